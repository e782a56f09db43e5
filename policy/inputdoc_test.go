package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// jsonBlock returns the first ```json block after heading in a Markdown file.
func jsonBlock(t *testing.T, doc, heading string) []byte {
	t.Helper()
	_, rest, ok := strings.Cut(doc, heading+"\n")
	if !ok {
		t.Fatalf("docs/policy-input.md has no %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```json\n")
	if !ok {
		t.Fatalf("docs/policy-input.md has no JSON block after %q", heading)
	}
	block, _, _ := strings.Cut(rest, "```")
	return []byte(block)
}

// TestInputDocument keeps docs/policy-input.md true: its schema is JSON, its example's
// shipgate key is exactly what Facts marshals to (no field missing or
// extra), and the production policy decides on it as the text says.
func TestInputDocument(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "docs", "policy-input.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	var schema map[string]any
	if err := json.Unmarshal(jsonBlock(t, doc, "### JSON Schema"), &schema); err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}

	example := jsonBlock(t, doc, "### Full example")
	var top struct {
		Shipgate json.RawMessage `json:"shipgate"`
	}
	if err := json.Unmarshal(example, &top); err != nil {
		t.Fatalf("the example is not JSON: %v", err)
	}
	var facts Facts
	dec := json.NewDecoder(bytes.NewReader(top.Shipgate))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&facts); err != nil {
		t.Fatalf("the example's shipgate key does not fit Facts: %v", err)
	}
	again, err := json.Marshal(facts)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(top.Shipgate, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Facts marshals to\n%s\nbut docs/policy-input.md shows\n%s", again, top.Shipgate)
	}

	// The example, as review plus facts, through the production policy.
	var review map[string]any
	if err := json.Unmarshal(example, &review); err != nil {
		t.Fatal(err)
	}
	delete(review, "shipgate")
	reviewJSON, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadDir("../policies")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, b, nil)
	res, err := e.Evaluate(t.Context(), "prod-shop", []string{"production"}, &Input{Review: reviewJSON, Shipgate: facts})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deny) != 0 || len(res.Warn) != 0 {
		t.Errorf("deny %q, warn %q; docs/policy-input.md says none", msgs(res.Deny), msgs(res.Warn))
	}
	wantAppr := ApprovalRequirement{Set: "production", Approvers: 2, Groups: []string{"release-managers"},
		Reason: "images change in production: ghcr.io/example/envoy:1.31.2, registry.example.com/shop/checkout:2.7.1"}
	if len(res.RequireApproval) != 1 || !reflect.DeepEqual(res.RequireApproval[0], wantAppr) {
		t.Errorf("require_approval = %+v, want %+v", res.RequireApproval, wantAppr)
	}
	if !strings.Contains(doc, wantAppr.Reason) || !slices.Contains(e.Sets(), "production") {
		t.Error("docs/policy-input.md does not quote the approval reason")
	}
}
