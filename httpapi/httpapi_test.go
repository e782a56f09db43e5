package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/shipgate/shipgate/auth"
)

func TestGuard(t *testing.T) {
	t.Parallel()
	tf, err := auth.ParseTokenFile("t", strings.NewReader("t-alice,alice,u1,release-managers\nt-bob,bob,u2\n"))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := auth.ParseRoleFile("r", []byte("roles:\n- name: approver\n  rules: [{resources: [approvals], verbs: [approve]}]\nbindings:\n- {role: approver, groups: [release-managers], namespaces: [\"prod-*\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := &Guard{Authn: tf, Authz: rf}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/v1/approvals/:id/approve", g.Authenticate(), g.Require("approve", "approvals", Query("namespace")),
		func(c *gin.Context) { c.String(200, User(c).Name) })

	tests := map[string]struct {
		token, ns string
		status    int
		code      string
	}{
		"no token":                       {"", "prod-a", 401, "unauthenticated"},
		"an unknown token":               {"t-mallory", "prod-a", 401, "unauthenticated"},
		"a user without the role":        {"t-bob", "prod-a", 403, "forbidden"},
		"the role outside its namespace": {"t-alice", "dev-a", 403, "forbidden"},
		"allowed":                        {"t-alice", "prod-a", 200, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/v1/approvals/x/approve?namespace="+tc.ns, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("HTTP %d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.code == "" {
				if rec.Body.String() != "alice" {
					t.Errorf("handler saw user %q, want alice", rec.Body)
				}
				return
			}
			var body ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Errorf("body %s, want error code %q with a message", rec.Body, tc.code)
			}
		})
	}
}
