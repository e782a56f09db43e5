package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/auth"
	authkube "github.com/shipgate/shipgate/auth/kube"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/httpapi"
	"github.com/shipgate/shipgate/store"
)

// DefaultStoreURL is the store when neither --store nor store.url names
// one: a SQLite file in the working directory.
const DefaultStoreURL = "sqlite://shipgate.db"

// CheckpointOrigin names shipgate's audit log in its signed checkpoints.
const CheckpointOrigin = "shipgate.dev/audit"

// openState opens the store and the audit log on it.
func (s *Server) openState(ctx context.Context, cfg *config.GatewayConfig) error {
	u := s.opts.StoreURL
	if u == "" {
		u = cfg.Store.URL
	}
	if u == "" {
		u = DefaultStoreURL
	}
	db, err := store.Open(ctx, u)
	if err != nil {
		return err
	}
	signer, err := s.checkpointSigner(ctx, db, u, cfg)
	if err != nil {
		db.Close()
		return err
	}
	host, _ := os.Hostname()
	every := cfg.Audit.CheckpointEvery
	l, err := audit.New(db, audit.WithCheckpoints(signer, every.Records, every.Interval.Duration), audit.WithReplica(host), audit.WithLogger(s.log),
		audit.WithCommitDelay(cfg.Audit.CommitDelay.Duration, newContention().Busy))
	if err != nil {
		db.Close()
		return err
	}
	s.db, s.audit = db, l
	s.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "shipgate_audit_commits_total",
		Help: "Transactions that appended audit records (group commit: one may append many).",
	}, func() float64 { n, _ := l.Commits(); return float64(n) }))
	s.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "shipgate_audit_records_total",
		Help: "Audit records appended; divided by shipgate_audit_commits_total, how many share a transaction.",
	}, func() float64 { _, n := l.Commits(); return float64(n) }))
	s.log.Info("audit log open", "store", db.String(), "checkpointKey", signer.Name())
	return nil
}

// checkpointSigner reads audit.checkpointKey or, for a SQLite store, keeps
// a generated key beside the database file (FILE.checkpoint.key, and the
// key to verify with in FILE.checkpoint.pub). Several replicas on
// PostgreSQL must share one configured key.
func (s *Server) checkpointSigner(ctx context.Context, db *store.DB, storeURL string, cfg *config.GatewayConfig) (note.Signer, error) {
	if src := cfg.Audit.CheckpointKey; src != nil {
		b, err := readSource(ctx, s.kube, src, s.opts.Namespace)
		if err != nil {
			return nil, fmt.Errorf("reading audit.checkpointKey: %w", err)
		}
		return audit.NewSigner(strings.TrimSpace(string(b)))
	}
	if db.Dialect() != store.SQLite {
		return nil, errors.New("audit.checkpointKey is required with PostgreSQL: every replica must sign checkpoints with the same key (shipgate audit keygen makes one)")
	}
	keyFile := sqlitePath(storeURL) + ".checkpoint.key"
	if b, err := os.ReadFile(keyFile); err == nil {
		return audit.NewSigner(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the checkpoint key: %w", err)
	}
	skey, vkey, err := audit.GenerateKey(CheckpointOrigin)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing the checkpoint key: %w", err)
	}
	if err := os.WriteFile(strings.TrimSuffix(keyFile, ".key")+".pub", []byte(vkey+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("writing the checkpoint verifier key: %w", err)
	}
	s.log.Warn("generated a checkpoint signing key beside the store; keep it, and give auditors the .pub file", "key", keyFile)
	return audit.NewSigner(skey)
}

// sqlitePath is the file of a sqlite:// URL.
func sqlitePath(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return filepath.Clean(strings.TrimPrefix(u, "sqlite://"))
	}
	return p.Host + p.Path
}

// guard builds the API's authentication and authorisation from the
// config: the cluster's TokenReview and SubjectAccessReview, or static
// files; with neither, every API call is refused as unauthenticated.
func (s *Server) guard(cfg *config.GatewayConfig) (*httpapi.Guard, error) {
	switch {
	case cfg.Auth.Kubernetes && s.kube != nil:
		r := authkube.NewReviewer(s.kube)
		return &httpapi.Guard{Authn: r, Authz: r}, nil
	case cfg.Auth.TokenFile != "":
		tf, err := auth.LoadTokenFile(cfg.Auth.TokenFile)
		if err != nil {
			return nil, err
		}
		g := &httpapi.Guard{Authn: tf, Authz: denyAll{}}
		if cfg.Auth.RoleFile != "" {
			rf, err := auth.LoadRoleFile(cfg.Auth.RoleFile)
			if err != nil {
				return nil, err
			}
			g.Authz = rf
		}
		return g, nil
	}
	return &httpapi.Guard{Authn: noAuthn{}, Authz: denyAll{}}, nil
}

// noAuthn refuses every caller: no way to authenticate is configured.
type noAuthn struct{}

func (noAuthn) Authenticate(context.Context, string) (*auth.User, error) {
	return nil, fmt.Errorf("%w: no authentication configured (auth.kubernetes or auth.tokenFile)", auth.ErrUnauthenticated)
}

// denyAll refuses every action: no role file is configured.
type denyAll struct{}

func (denyAll) Authorize(_ context.Context, u *auth.User, a auth.Attributes) (bool, string, error) {
	return false, fmt.Sprintf("%s may not %s %s: no authorisation configured (auth.roleFile or auth.kubernetes)", u.Name, a.Verb, a.Resource), nil
}
