package webhook

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecideReview feeds arbitrary bodies to the decoder and, when they
// decode, to the whole /validate pipeline: nothing may panic, and every
// answer must be a complete decision.
func FuzzDecideReview(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		// Compact, as the API server sends them: the fuzzer mutates
		// fewer bytes of indentation.
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"apps","version":"v1","kind":"Deployment"},"namespace":"shop","operation":"CREATE","object":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"@@"}]}}}}}}`))
	v := newTestValidator(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeReview(body)
		if err != nil {
			return
		}
		d := v.Decide(t.Context(), req)
		if d.ID == "" {
			t.Fatal("decision without an id")
		}
		if !d.Allowed && len(d.Reasons) == 0 {
			t.Fatalf("refused without a reason: %+v", d)
		}
		resp := d.Response()
		if resp.Result == nil {
			t.Fatal("response without a status")
		}
		if !resp.Allowed && resp.Result.Message == "" {
			t.Fatal("refusal without a message")
		}
	})
}
