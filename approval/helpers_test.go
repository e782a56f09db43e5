package approval_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// The people of the tests.
var (
	ci    = auth.User{Name: "system:serviceaccount:ci:deployer", Groups: []string{"system:serviceaccounts"}}
	alice = auth.User{Name: "alice", Groups: []string{"release-managers"}}
	bob   = auth.User{Name: "bob", Groups: []string{"release-managers"}}
	frank = auth.User{Name: "frank", Groups: []string{"release-managers", "security"}}
	eve   = auth.User{Name: "eve", Groups: []string{"security"}}
	carol = auth.User{Name: "carol", Groups: []string{"sre-oncall"}}
	dave  = auth.User{Name: "dave", Groups: []string{"developers"}}
)

// prodRule is DESIGN.md's production rule.
var prodRule = &config.ApprovalRule{
	Approvers:        2,
	Groups:           []string{"release-managers"},
	BreakGlassGroups: []string{"sre-oncall"},
	Expiry: config.ApprovalExpiry{
		Pending:    config.Duration{Duration: 72 * time.Hour},
		Approved:   config.Duration{Duration: 24 * time.Hour},
		BreakGlass: config.Duration{Duration: time.Hour},
	},
}

// env is one store with an audit log and a Service on it.
type env struct {
	db  *store.DB
	log *audit.Log
	svc *approval.Service
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv opens a fresh store of dialect d with its audit log and Service.
func newEnv(t *testing.T, d store.Dialect, opts ...approval.Option) *env {
	t.Helper()
	db := openStore(t, d)
	return onStore(t, db, opts...)
}

func openStore(t *testing.T, d store.Dialect) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), storetest.URL(t, d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// onStore starts an audit log and a Service on db, as a replica would.
func onStore(t *testing.T, db *store.DB, opts ...approval.Option) *env {
	t.Helper()
	l, err := audit.New(db, audit.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	rules := func(context.Context, string) ([]approval.Requirement, error) {
		return []approval.Requirement{approval.FromRule(prodRule)}, nil
	}
	svc, err := approval.New(db, l, append([]approval.Option{approval.WithLogger(quiet()), approval.WithRules(rules)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(time.Second); l.Close() })
	return &env{db: db, log: l, svc: svc}
}

// query is a rollout needing the production rule, fingerprint fp.
func query(fp string) approval.Query {
	return approval.Query{
		Namespace: "prod-payments", Kind: "Deployment", Name: "api", Fingerprint: fp,
		Images:       []approval.Image{{Container: "api", Ref: "registry.example.com/shop/api:1.4.2", Digest: "sha256:" + strings.Repeat("a", 64)}},
		Requester:    ci,
		Requirements: []approval.Requirement{approval.FromRule(prodRule)},
		DecisionID:   "d-" + fp,
		Use:          true,
	}
}

// pending creates the pending request for fp and returns its id.
func (e *env) pending(t *testing.T, fp string) string {
	t.Helper()
	out, err := e.svc.Require(t.Context(), query(fp))
	if err != nil || out.Satisfied || out.RequestID == "" || !out.Created {
		t.Fatalf("Require(%s) = %+v, %v; want a new pending request", fp, out, err)
	}
	return out.RequestID
}

// age moves a request's expiry into the past, as time passing would.
func (e *env) age(t *testing.T, id string) {
	t.Helper()
	past := time.Now().Add(-time.Minute).UnixNano()
	if _, err := e.db.SQL().Exec(e.db.Rebind("UPDATE approval_requests SET expires_at = ? WHERE id = ?"), past, id); err != nil {
		t.Fatal(err)
	}
}

// events are the approval records of the audit log about request id, as
// "action:username".
func (e *env) events(t *testing.T, id string) []string {
	t.Helper()
	entries, _, err := e.log.Query(t.Context(), audit.Filter{}, "", audit.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		r := en.Record
		if r.Event == audit.EventApproval && len(r.Approvals) == 1 && r.Approvals[0] == id {
			out = append(out, r.Decision+":"+r.User.Username)
		}
	}
	return out
}

// details is the Details of the audit record of action on request id.
func (e *env) details(t *testing.T, id, action string) approval.Details {
	t.Helper()
	entries, _, err := e.log.Query(t.Context(), audit.Filter{Decision: action}, "", audit.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if len(en.Record.Approvals) == 1 && en.Record.Approvals[0] == id {
			var d approval.Details
			if err := json.Unmarshal(en.Record.Details, &d); err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("no %s record for %s", action, id)
	return approval.Details{}
}

// refused asserts err wraps want and says every one of says.
func refused(t *testing.T, err, want error, says ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
}

// testRegistry is a real OCI registry in process.
type testRegistry struct{ host string }

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &testRegistry{host: strings.TrimPrefix(srv.URL, "http://")}
}

// push writes a new random image under repo:tag and returns the reference.
func (r *testRegistry) push(t *testing.T, repoTag string) string {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := r.host + "/" + repoTag
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// headResolver resolves tags with a HEAD request to the registry, as a
// signer does.
type headResolver struct{}

func (headResolver) Resolve(ctx context.Context, _ string, refs []string) (map[string]string, error) {
	out := make(map[string]string, len(refs))
	for _, r := range refs {
		ref, err := name.ParseReference(r)
		if err != nil {
			return nil, err
		}
		desc, err := remote.Head(ref, remote.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		out[r] = desc.Digest.String()
	}
	return out, nil
}
