package webhook

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// podReview is a CREATE of a bare Pod in namespace shop with the given
// containers JSON.
func podReview(containers string) string {
	return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"h-1",
"kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"shop","operation":"CREATE","userInfo":{"username":"mallory"},
"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},"spec":{"containers":` + containers + `}}}}`
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	many := make([]string, 10000)
	for i := range many {
		many[i] = fmt.Sprintf(`{"name":"c%d","image":"busybox:latest"}`, i)
	}
	tests := map[string]struct {
		body   string
		status int    // HTTP status
		code   int32  // status.code inside the answer, when HTTP 200
		says   string // in the body or the message
	}{
		"ten thousand latest containers": {
			body: podReview("[" + strings.Join(many, ",") + "]"), status: 200, code: 403,
			says: "; and 9990 more (decision ",
		},
		"deeply nested JSON": {
			body: podReview(strings.Repeat("[", 20000) + strings.Repeat("]", 20000)), status: 400, says: "invalid AdmissionReview",
		},
		"invalid UTF-8 in an image": {
			body: podReview("[{\"name\":\"a\",\"image\":\"busybox:\xff\xfe\"}]"), status: 400, says: "invalid UTF-8",
		},
		"duplicate members": {
			body: podReview(`[{"name":"a","image":"busybox:1.37","image":"busybox:latest"}]`), status: 400, says: "duplicate",
		},
		"image member spelled in capitals is not an image": {
			body: podReview(`[{"name":"a","Image":"busybox:1.37"}]`), status: 200, code: 403, says: "parsing image",
		},
		"containers that are not a list": {
			body: podReview(`{"name":"a"}`), status: 200, code: 400, says: "at /spec/containers: cannot read an object as an array",
		},
	}
	h := Serve("validate", newTestValidator(t), nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("HTTP %d, want %d: %.300s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != 200 {
				if !strings.Contains(rec.Body.String(), tc.says) {
					t.Errorf("body %.300q does not say %q", rec.Body, tc.says)
				}
				return
			}
			resp := postReview(t, h, "/validate", []byte(tc.body))
			if resp.Allowed || resp.Result.Code != tc.code || !strings.Contains(resp.Result.Message, tc.says) {
				t.Errorf("allowed=%v code=%d message=%.400q, want a %d refusal saying %q", resp.Allowed, resp.Result.Code, resp.Result.Message, tc.code, tc.says)
			}
			if len(resp.Result.Message) > 4096 {
				t.Errorf("message is %d bytes; reasons must be capped", len(resp.Result.Message))
			}
		})
	}
}
