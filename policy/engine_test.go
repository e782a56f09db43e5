package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// tutorialPolicy is the policy of OPA's Kubernetes admission tutorial, in
// Rego v0, character for character: no marker, no import.
const tutorialPolicy = `package kubernetes.admission

deny[msg] {
  input.request.kind.kind == "Pod"
  image := input.request.object.spec.containers[_].image
  not startswith(image, "hooli.com/")
  msg := sprintf("image '%v' comes from untrusted registry", [image])
}
`

func TestEvaluateBindsSetsByName(t *testing.T) {
	t.Parallel()
	e := mustEngine(t, bundleOf(map[string]string{
		"production.rego": "package shipgate.production\ndeny contains \"from data.shipgate.production\"\n",
		// A one-segment package: the plain name "production" must not reach it.
		"bare.rego":     "package production\ndeny contains \"from data.production\"\n",
		"tutorial.rego": tutorialPolicy,
		"dashed.rego":   "package shipgate[\"team-x\"]\nwarn contains \"from team-x\"\n",
		"deep.rego":     "package acme.k8s.admission\ndeny contains \"from data.acme.k8s.admission\"\n",
	}), nil)
	review := podReview("default", "evil.io/app:1.0")

	tests := map[string]struct {
		sets     []string
		wantDeny []string
		wantWarn []string
		wantErr  error
	}{
		"a plain name is the package below shipgate": {
			sets:     []string{"production"},
			wantDeny: []string{"production: from data.shipgate.production"},
		},
		"a dotted name is the package as written": {
			sets:     []string{"kubernetes.admission"},
			wantDeny: []string{"kubernetes.admission: image 'evil.io/app:1.0' comes from untrusted registry"},
		},
		"a deeper dotted name": {
			sets:     []string{"acme.k8s.admission"},
			wantDeny: []string{"acme.k8s.admission: from data.acme.k8s.admission"},
		},
		"a plain name that is not a Rego identifier": {
			sets:     []string{"team-x"},
			wantWarn: []string{"team-x: from team-x"},
		},
		"sets in binding order, the same package once": {
			sets: []string{"kubernetes.admission", "production", "shipgate.production"},
			wantDeny: []string{
				"kubernetes.admission: image 'evil.io/app:1.0' comes from untrusted registry",
				"production: from data.shipgate.production",
			},
		},
		"no sets": {sets: nil},
		"a set that does not exist fails closed": {
			sets:    []string{"production", "admission"},
			wantErr: ErrUnknownSet,
		},
		"a one-segment package is not a set": {
			sets:    []string{"shipgate"},
			wantErr: ErrUnknownSet,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := e.Evaluate(t.Context(), "default", tc.sets, review)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Evaluate error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := msgs(res.Deny); !slices.Equal(got, orEmpty(tc.wantDeny)) {
				t.Errorf("deny = %q, want %q", got, tc.wantDeny)
			}
			if got := msgs(res.Warn); !slices.Equal(got, orEmpty(tc.wantWarn)) {
				t.Errorf("warn = %q, want %q", got, tc.wantWarn)
			}
			if res.Revision != e.Revision() || len(res.Revision) != 12 {
				t.Errorf("revision = %q, want the engine's %q", res.Revision, e.Revision())
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestTutorialPolicyRunsUnmodified(t *testing.T) {
	t.Parallel()
	e := mustEngine(t, bundleOf(map[string]string{"tutorial.rego": tutorialPolicy}), nil)
	tests := map[string]struct {
		images []string
		want   []string
	}{
		"trusted registry":   {images: []string{"hooli.com/nginx"}, want: []string{}},
		"untrusted registry": {images: []string{"nginx", "hooli.com/db"}, want: []string{"kubernetes.admission: image 'nginx' comes from untrusted registry"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := e.Evaluate(t.Context(), "prod", []string{"kubernetes.admission"}, podReview("prod", tc.images...))
			if err != nil {
				t.Fatal(err)
			}
			if got := msgs(res.Deny); !slices.Equal(got, tc.want) {
				t.Errorf("deny = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRegoVersionsSideBySide(t *testing.T) {
	t.Parallel()
	v0Marked := "# Copyright example\n# shipgate.dev/rego-version: v0\npackage shipgate.old\n\ndeny[\"v0 marked\"] { input.request.kind.kind == \"Pod\" }\n"
	// In v0, "contains" is an ordinary name: this rule is the function
	// contains/1 only in v0; as v1 it does not parse ("contains" is a
	// keyword), so only the marker makes it load.
	v0Only := "# shipgate.dev/rego-version: v0\npackage shipgate.legacy\n\ncontains(x) { x == 1 }\ndeny[msg] { contains(1); msg := \"v0 keyword-free\" }\n"
	v1 := "package shipgate.new\n\ndeny contains \"v1\" if input.request.kind.kind == \"Pod\"\n"
	v0Detected := "package shipgate.detected\n\ndeny[\"v0 detected\"] { true }\n"

	e := mustEngine(t, bundleOf(map[string]string{"old.rego": v0Marked, "legacy.rego": v0Only, "new.rego": v1, "detected.rego": v0Detected}), nil)
	res, err := e.Evaluate(t.Context(), "default", []string{"old", "legacy", "new", "detected"}, podReview("default", "x"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"old: v0 marked", "legacy: v0 keyword-free", "new: v1", "detected: v0 detected"}
	if got := msgs(res.Deny); !slices.Equal(got, want) {
		t.Errorf("deny = %q, want %q", got, want)
	}

	// A namespace's v0 policy (the ConfigMap annotation sets RegoV0 on its
	// modules) runs beside v1 cluster policy.
	nsb := NewBundle()
	nsb.AddModule("team-a.rego", "package shipgate.namespaces[\"team-a\"]\n\nwarn[msg] { msg := \"v0 namespace\" }\n", RegoV0)
	e = mustEngine(t, bundleOf(map[string]string{"new.rego": v1}), map[string]*Bundle{"team-a": nsb})
	res, err = e.Evaluate(t.Context(), "team-a", []string{"new"}, podReview("team-a", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := append(msgs(res.Deny), msgs(res.Warn)...); !slices.Equal(got, []string{"new: v1", "shipgate.namespaces.team-a: v0 namespace"}) {
		t.Errorf("v1 cluster with v0 namespace: %q", got)
	}

	// A v1 marker pins v1: the same v0 source is then an error, at the
	// line of the v0 rule.
	_, err = New(bundleOf(map[string]string{"pinned.rego": "# shipgate.dev/rego-version: v1\npackage shipgate.pinned\n\ndeny[\"x\"] { true }\n"}), nil)
	compileErrorAt(t, err, "pinned.rego", 4, "rego_parse_error")

	// An unknown version is refused at the marker's line.
	_, err = New(bundleOf(map[string]string{"odd.rego": "\n# shipgate.dev/rego-version: v3\npackage shipgate.odd\n"}), nil)
	compileErrorAt(t, err, "odd.rego", 2, `unknown Rego version "v3"`)

	// A version set on the module wins over detection: v0 source forced to
	// v1 does not load.
	b := NewBundle()
	b.AddModule("forced.rego", v0Detected, RegoV1)
	if _, err := New(b, nil); err == nil {
		t.Error("v0 source compiled although the module was set to RegoV1")
	}
}

func TestOutputShapes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		module   string
		wantDeny []Message
		wantWarn []Message
		wantAppr []ApprovalRequirement
		wantErr  error
		opts     []Option
	}{
		"strings and objects": {
			module: `deny contains "plain"
deny contains {"msg": "coded", "code": "SG001"}
warn contains {"msg": "numbered", "code": 7}`,
			// OPA orders a set's strings before its objects.
			wantDeny: []Message{{Set: "s", Msg: "plain"}, {Set: "s", Msg: "coded", Code: "SG001"}},
			wantWarn: []Message{{Set: "s", Msg: "numbered", Code: "7"}},
		},
		"deny as a boolean rule": {
			module:   `deny if true`,
			wantDeny: []Message{{Set: "s", Msg: "deny of policy s"}},
		},
		"deny false raises nothing": {module: `deny := false`},
		"deny as an array":          {module: `deny := ["a", "b"]`, wantDeny: []Message{{Set: "s", Msg: "a"}, {Set: "s", Msg: "b"}}},
		"require_approval object": {
			module:   `require_approval := {"approvers": 2, "groups": ["release-managers"], "reason": "images changed"}`,
			wantAppr: []ApprovalRequirement{{Set: "s", Approvers: 2, Groups: []string{"release-managers"}, Reason: "images changed"}},
		},
		"require_approval set": {
			module: `require_approval contains {"approvers": 1, "groups": {"sre"}, "reason": "a"}
require_approval contains {"approvers": 2, "reason": "b"}`,
			wantAppr: []ApprovalRequirement{
				{Set: "s", Approvers: 1, Groups: []string{"sre"}, Reason: "a"},
				{Set: "s", Approvers: 2, Reason: "b"},
			},
		},
		"deny of numbers is an error, not silence": {module: `deny contains 42`, wantErr: ErrOutput},
		"object without msg is an error":           {module: `deny contains {"message": "x"}`, wantErr: ErrOutput},
		"approvers zero is an error":               {module: `require_approval := {"approvers": 0}`, wantErr: ErrOutput},
		"approvers missing is an error":            {module: `require_approval := {"groups": ["a"]}`, wantErr: ErrOutput},
		"approvers fractional is an error":         {module: `require_approval := {"approvers": 1.5}`, wantErr: ErrOutput},
		"groups of numbers is an error":            {module: `require_approval := {"approvers": 1, "groups": [1]}`, wantErr: ErrOutput},
		"a failing built-in is undefined by default, as in OPA": {
			module: `deny contains x if x := 1 / 0`,
		},
		"a failing built-in fails the evaluation when strict": {
			module:  `deny contains x if x := 1 / 0`,
			opts:    []Option{WithStrictBuiltinErrors()},
			wantErr: errAny,
		},
		"a rule that errors fails the evaluation": {
			module: `deny contains x if x := f
f = 1 if true
f = 2 if true`,
			wantErr: errAny,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := mustEngine(t, bundleOf(map[string]string{"s.rego": "package shipgate.s\n" + tc.module + "\n"}), nil, tc.opts...)
			res, err := e.Evaluate(t.Context(), "", []string{"s"}, map[string]any{})
			if tc.wantErr == errAny {
				if err == nil {
					t.Fatalf("Evaluate = %+v, want an error", res)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Evaluate error = %v, want %v", err, tc.wantErr)
			}
			if !slices.EqualFunc(res.Deny, tc.wantDeny, func(a, b Message) bool { return a == b }) {
				t.Errorf("deny = %+v, want %+v", res.Deny, tc.wantDeny)
			}
			if !slices.EqualFunc(res.Warn, tc.wantWarn, func(a, b Message) bool { return a == b }) {
				t.Errorf("warn = %+v, want %+v", res.Warn, tc.wantWarn)
			}
			if !slices.EqualFunc(res.RequireApproval, tc.wantAppr, func(a, b ApprovalRequirement) bool {
				return a.Set == b.Set && a.Approvers == b.Approvers && a.Reason == b.Reason && slices.Equal(a.Groups, b.Groups)
			}) {
				t.Errorf("require_approval = %+v, want %+v", res.RequireApproval, tc.wantAppr)
			}
		})
	}
}

// errAny stands for "some error" in tables.
var errAny = errors.New("any error")

func TestEvaluateHonoursDeadline(t *testing.T) {
	t.Parallel()
	// Ten million iterations: seconds of work, far past the deadline.
	e := mustEngine(t, bundleOf(map[string]string{"slow.rego": `package shipgate.slow
deny contains "slow" if {
	n := count([x | some x in numbers.range(1, 10000000); x % 7 == 3])
	n < 0
}
`}), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := e.Evaluate(ctx, "", []string{"slow"}, map[string]any{})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Evaluate = %+v, %v; want context.DeadlineExceeded", res, err)
	}
	if took > 2*time.Second {
		t.Errorf("Evaluate returned after %v: the deadline was not honoured", took)
	}

	// An already cancelled context evaluates nothing.
	done, cancelNow := context.WithCancel(t.Context())
	cancelNow()
	if _, err := e.Evaluate(done, "", []string{"slow"}, map[string]any{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Evaluate with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestNetworkBuiltinsRefused(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		module  string
		builtin string
	}{
		"http.send": {
			module:  "package shipgate.net\n\ndeny contains \"up\" if {\n\thttp.send({\"method\": \"GET\", \"url\": \"http://example.com\"}).status_code == 200\n}\n",
			builtin: "http.send",
		},
		"net.lookup_ip_addr": {
			module:  "package shipgate.net\n\ndeny contains \"dns\" if {\n\tcount(net.lookup_ip_addr(\"example.com\")) > 0\n}\n",
			builtin: "net.lookup_ip_addr",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := bundleOf(map[string]string{"net.rego": tc.module})
			_, err := New(b, nil)
			compileErrorAt(t, err, "net.rego", 4, "undefined function "+tc.builtin)
			if !strings.Contains(err.Error(), "network I/O are disabled") {
				t.Errorf("error %q does not say why the built-in is missing", err)
			}
			// Namespace policy is refused the same way.
			_, err = New(nil, map[string]*Bundle{"team-a": bundleOf(map[string]string{"net.rego": strings.Replace(tc.module, "shipgate.net", "shipgate.namespaces[\"team-a\"]", 1)})})
			compileErrorAt(t, err, "net.rego", 4, "undefined function "+tc.builtin)
			// The option lets it compile (it is not called here).
			if _, err := New(b, nil, WithNetworkBuiltins()); err != nil {
				t.Errorf("with WithNetworkBuiltins: %v", err)
			}
		})
	}
	// With hosts, cluster policy compiles; a namespace's own still does not.
	send := "package shipgate.net\n\ndeny contains \"up\" if {\n\thttp.send({\"method\": \"GET\", \"url\": \"http://example.com\"}).status_code == 200\n}\n"
	if _, err := New(bundleOf(map[string]string{"net.rego": send}), nil, WithNetworkHosts("example.com")); err != nil {
		t.Errorf("cluster policy with WithNetworkHosts: %v", err)
	}
	_, err := New(nil, map[string]*Bundle{"team-a": bundleOf(map[string]string{"net.rego": strings.Replace(send, "shipgate.net", "shipgate.namespaces[\"team-a\"]", 1)})}, WithNetworkHosts("example.com"))
	compileErrorAt(t, err, "net.rego", 4, "undefined function http.send")
	if _, err := New(bundleOf(map[string]string{"net.rego": send}), nil, WithNetworkHosts()); err == nil {
		t.Error("WithNetworkHosts() with no hosts let http.send compile")
	}
	// Pure built-ins stay: net.cidr_contains does no I/O.
	if _, err := New(bundleOf(map[string]string{"pure.rego": "package shipgate.pure\ndeny contains \"x\" if net.cidr_contains(\"10.0.0.0/8\", \"10.1.2.3\")\n"}), nil); err != nil {
		t.Errorf("net.cidr_contains: %v", err)
	}
}

func TestClusterCompileErrorKeepsRevision(t *testing.T) {
	t.Parallel()
	e := mustEngine(t, bundleOf(map[string]string{"p.rego": "package shipgate.p\ndeny contains \"old\"\n"}), nil)
	before := e.Revision()
	err := e.Update(bundleOf(map[string]string{
		"p.rego":   "package shipgate.p\ndeny contains \"new\"\n",
		"bad.rego": "package shipgate.bad\n\ndeny contains x if {\n\tx := y\n}\n",
	}), nil)
	compileErrorAt(t, err, "bad.rego", 4, "var y is unsafe")
	if e.Revision() != before {
		t.Errorf("revision changed to %s after a failed update", e.Revision())
	}
	res, err := e.Evaluate(t.Context(), "", []string{"p"}, map[string]any{})
	if err != nil || !slices.Equal(msgs(res.Deny), []string{"p: old"}) {
		t.Errorf("after a failed update: %+v, %v; want the old policy", res.Deny, err)
	}
	// Syntax errors in several files are all reported.
	err = e.Update(bundleOf(map[string]string{"a.rego": "package a\n\nx := }\ny := 1\n", "b.rego": "package b\ny := [1 2]\n"}), nil)
	compileErrorAt(t, err, "a.rego", 3, "rego_parse_error")
	compileErrorAt(t, err, "b.rego", 2, "rego_parse_error")
}

func TestInputValue(t *testing.T) {
	t.Parallel()
	e := mustEngine(t, bundleOf(map[string]string{"facts.rego": `package shipgate.facts
deny contains sprintf("%s/%s %s %v", [input.shipgate.namespace.name, input.shipgate.workload.name, input.request.uid, input.shipgate.images[0].verified])
deny contains "review carried its own shipgate key" if input.shipgate.forged
`}), nil)
	review := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","shipgate":{"forged":true},"request":{"uid":"u-1"}}`)
	in := &Input{Review: review, Shipgate: Facts{
		Namespace: NamespaceFacts{Name: "prod"},
		Workload:  WorkloadFacts{Kind: "Deployment", Name: "api", Class: "rollout"},
		Images:    []ImageFacts{{Ref: "app:1.0", Verified: true}},
	}}
	res, err := e.Evaluate(t.Context(), "", []string{"facts"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"facts: prod/api u-1 true"}; !slices.Equal(msgs(res.Deny), want) {
		t.Errorf("deny = %q, want %q", msgs(res.Deny), want)
	}
	for name, raw := range map[string]string{"not JSON": "{", "not an object": "[1]"} {
		if _, err := (&Input{Review: []byte(raw)}).Value(); err == nil {
			t.Errorf("%s: Value accepted %q", name, raw)
		}
	}
}

// TestNetworkHostsBoundCalls: cluster policy given hosts reaches those
// hosts and no other; a call elsewhere fails the evaluation (fail closed).
func TestNetworkHostsBoundCalls(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"blocked": ["registry.example.com/shop/api@sha256:0bad"]}`)
	}))
	defer srv.Close()
	host, _, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	module := fmt.Sprintf("package shipgate.vulndb\n\ndeny contains \"blocked by the vulnerability database\" if {\n\tresp := http.send({\"method\": \"GET\", \"url\": %q})\n\tcount(resp.body.blocked) > 0\n}\n", srv.URL+"/blocked")
	in := map[string]any{"request": map[string]any{"uid": "u"}}
	allowed, err := New(bundleOf(map[string]string{"vulndb.rego": module}), nil, WithStrictBuiltinErrors(), WithNetworkHosts(host))
	if err != nil {
		t.Fatal(err)
	}
	res, err := allowed.Evaluate(t.Context(), "shop", []string{"vulndb"}, in)
	if err != nil || len(res.Deny) != 1 {
		t.Fatalf("with %s allowed: %+v, %v; want one denial from the response", host, res, err)
	}
	other, err := New(bundleOf(map[string]string{"vulndb.rego": module}), nil, WithStrictBuiltinErrors(), WithNetworkHosts("vulndb.internal"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := other.Evaluate(t.Context(), "shop", []string{"vulndb"}, in); err == nil {
		t.Errorf("a call to %s with only vulndb.internal allowed: %+v, want an evaluation error", host, res)
	}
}
