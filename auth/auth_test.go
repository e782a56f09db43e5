package auth

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

const tokens = `# token,user,uid,groups
t-deployer,deployer,u1
t-alice,alice,u2,"release-managers,dev"
t-bob,bob,u3,"release-managers"
t-carol,carol,u4,"sre-oncall"
t-auditor,auditor,u5,auditors
`

const roles = `roles:
- name: approver
  rules:
  - resources: [approvals]
    verbs: [get, list, approve, reject]
- name: reader
  rules:
  - resources: [auditevents]
    verbs: [get, list]
- name: admin
  rules:
  - resources: ["*"]
    verbs: ["*"]
bindings:
- role: approver
  namespaces: ["prod-*"]
  groups: [release-managers]
- role: approver
  users: [carol]
- role: reader
  groups: [auditors]
- role: admin
  users: [root]
`

func TestTokenFile(t *testing.T) {
	t.Parallel()
	tf, err := ParseTokenFile("tokens.csv", strings.NewReader(tokens))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		token  string
		user   string
		groups []string
	}{
		"a user without groups":     {"t-deployer", "deployer", []string{"system:authenticated"}},
		"a user with quoted groups": {"t-alice", "alice", []string{"system:authenticated", "release-managers", "dev"}},
		"an unknown token":          {"t-mallory", "", nil},
		"no token":                  {"", "", nil},
		"a prefix of a token":       {"t-ali", "", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u, err := tf.Authenticate(t.Context(), tc.token)
			if tc.user == "" {
				if !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("Authenticate(%q) = %v, %v; want ErrUnauthenticated", tc.token, u, err)
				}
				return
			}
			if err != nil || u.Name != tc.user || !slices.Equal(u.Groups, tc.groups) {
				t.Errorf("Authenticate = %+v, %v; want %s in %v", u, err, tc.user, tc.groups)
			}
		})
	}
}

func TestTokenFileErrorsNameTheLine(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ file, says string }{
		"too few fields": {"a,b,c\nd,e\n", "tokens.csv:2: want token,user,uid"},
		"empty user":     {"a,,c\n", "tokens.csv:1: token and user must not be empty"},
		"repeated token": {"a,b,c\na,d,e\n", "tokens.csv:2: token repeated"},
		"broken quoting": {"a,b,c,\"g1\n", "tokens.csv"},
	} {
		_, err := ParseTokenFile("tokens.csv", strings.NewReader(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %v, want it to say %q", name, err, tc.says)
		}
	}
}

func TestRoleFile(t *testing.T) {
	t.Parallel()
	rf, err := ParseRoleFile("roles.yaml", []byte(roles))
	if err != nil {
		t.Fatal(err)
	}
	alice := &User{Name: "alice", Groups: []string{"system:authenticated", "release-managers"}}
	deployer := &User{Name: "deployer", Groups: []string{"system:authenticated"}}
	carol := &User{Name: "carol"}
	auditor := &User{Name: "auditor", Groups: []string{"auditors"}}
	root := &User{Name: "root"}
	tests := map[string]struct {
		user *User
		a    Attributes
		want bool
	}{
		"a release manager approves in prod":      {alice, Attributes{Verb: "approve", Resource: "approvals", Namespace: "prod-payments"}, true},
		"but not in dev":                          {alice, Attributes{Verb: "approve", Resource: "approvals", Namespace: "dev-x"}, false},
		"nor across all namespaces":               {alice, Attributes{Verb: "list", Resource: "approvals"}, false},
		"nor creates requests":                    {alice, Attributes{Verb: "create", Resource: "approvals", Namespace: "prod-payments"}, false},
		"the deployer may not approve":            {deployer, Attributes{Verb: "approve", Resource: "approvals", Namespace: "prod-payments"}, false},
		"a user binding with no namespaces":       {carol, Attributes{Verb: "approve", Resource: "approvals", Namespace: "dev-x"}, true},
		"an auditor lists audit events":           {auditor, Attributes{Verb: "list", Resource: "auditevents"}, true},
		"but may not redact":                      {auditor, Attributes{Verb: "redact", Resource: "auditevents"}, false},
		"an auditor may not approve":              {auditor, Attributes{Verb: "approve", Resource: "approvals", Namespace: "prod-payments"}, false},
		"wildcards grant everything to the admin": {root, Attributes{Verb: "redact", Resource: "auditevents"}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ok, reason, err := rf.Authorize(t.Context(), tc.user, tc.a)
			if err != nil || ok != tc.want {
				t.Errorf("Authorize = %v (%s), %v; want %v", ok, reason, err, tc.want)
			}
			if !ok && !strings.Contains(reason, tc.user.Name+" may not "+tc.a.Verb) {
				t.Errorf("refusal reason %q does not say who may not do what", reason)
			}
		})
	}
}

func TestRoleFileErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ file, says string }{
		"an unknown field":     {"roles:\n- name: a\n  rulez: []\n", "roles.yaml:3: field rulez not found"},
		"a missing role":       {"bindings:\n- role: nope\n  users: [a]\n", "no role \"nope\""},
		"a repeated role":      {"roles:\n- name: a\n- name: a\n", "name empty or repeated"},
		"a bad namespace glob": {"roles:\n- name: a\nbindings:\n- role: a\n  namespaces: [\"[\"]\n", "namespace pattern"},
	} {
		_, err := ParseRoleFile("roles.yaml", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %v, want it to say %q", name, err, tc.says)
		}
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer  abc ": "abc",
		"Basic abc":    "",
		"":             "",
		"Bearer":       "",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if got := BearerToken(r); got != want {
			t.Errorf("BearerToken(%q) = %q, want %q", header, got, want)
		}
	}
}
