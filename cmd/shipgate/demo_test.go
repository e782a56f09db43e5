package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs the whole demo: a registry and a real HTTPS gateway on
// loopback, images signed and attested in Go, the played API server and
// the approval API. It checks the story's outcomes: what was admitted,
// pinned and refused, and why; the digest kept after the tag moved; the
// approval flow; and the audit log.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	out, err := runCommand(t, "demo", "--dir", dir)
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	find := func(re string) []string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("demo output does not match %q:\n%s", re, out)
		}
		return m
	}
	host := find(`demo registry \((127\.0\.0\.1:\d+)\)`)[1]
	pushed := find(regexp.QuoteMeta(host+"/shop/web:1.4.2") + `\s+(sha256:[0-9a-f]{64})\s+signed by the release key`)[1]

	// The rollout's audit record, read through the API, holds the digest
	// CI pushed; both Pods of its ReplicaSet were pinned to it, the second
	// after the tag had moved to another image.
	recorded := find(`container app: ` + regexp.QuoteMeta(host+"/shop/web:1.4.2") + ` pinned to (sha256:[0-9a-f]{64})`)[1]
	moved := find(`shop/web:1\.4\.2 now names (sha256:[0-9a-f]{64})`)[1]
	if recorded != pushed || moved == pushed {
		t.Errorf("pushed %s, recorded %s, tag moved to %s: want recorded = pushed != moved", pushed, recorded, moved)
	}
	pin := "replace /spec/containers/0/image = " + host + "/shop/web:1.4.2@" + pushed
	if n := strings.Count(out, pin); n != 2 {
		t.Errorf("%d Pods patched with %q, want 2", n, pin)
	}
	if strings.Contains(out, "@"+moved) {
		t.Errorf("a Pod was pinned to %s, the image the tag was moved to", moved)
	}

	id := find(`approval request (\w+) is pending \(0 of 2 approvals from release-managers`)[1]
	for _, want := range []string{
		"shipgate is serving https://127.0.0.1:",
		"7 admitted, 1 warned, 10 denied, 1 refused as unreadable.",
		"still pinned to " + pushed + ", the digest recorded at admission, not " + moved + " that the tag names now",
		// the refusals, in shipgate's words
		`Pod shop/web-7d9c5-*: container "app" image "` + host + `/shop/web:latest" uses the tag latest`,
		`Deployment shop/cart: image "` + host + `/shop/cart:3.0.0" (container app): not signed: no cosign signature found`,
		`Deployment shop/checkout: image "` + host + `/shop/checkout:2.7.1" (container app): https://in-toto.io/attestation/test-result/v0.1 attestation not accepted: tests did not pass: result FAILED; failed: TestRefundRoundsHalfUp, TestTaxForEU`,
		`Deployment shop/search: image "` + host + `/shop/search:1.0.0" (container app): not signed by a trusted authority: 0 of 1 required signatures (authorities: release-key); release-key: no signature verifies with its key`,
		`Deployment shop/cache: container "app" image "redis:latest" uses the tag latest`,
		`image "ghcr.io/acme/tracker:2.1.0" (container app): no trust policy matches ghcr.io/acme/tracker`,
		`container "app": image "ghcr.io/acme/tracker:2.1.0" comes from a registry this cluster does not use`,
		"shipgate: Deployment dev-alice/tool:",
		"→ HTTP 400: invalid AdmissionReview",
		// the approval flow
		"approve it with `shipgate approvals approve " + id + "` or POST /v1/approvals/" + id + "/approve",
		"→ refused: carol requested approval " + id + " for Deployment prod-payments/api and cannot approve it: approvals must come from someone other than the requester (HTTP 403 self-approval)",
		"approval request " + id + " is pending (1 of 2 approvals from release-managers",
		"→ approval request " + id + " for Deployment prod-payments/api: approved by alice, bob;",
		// the log verifies against its signed checkpoint
		"verified 17 records (0 redacted) and 1 signed checkpoints",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	find(`carol applies it again: the same rollout, now approved\n\s+→ admitted \(decision \w+\)`)
	// The listing of the audit log: the rollouts, the approval events in
	// order, the warning and the denials.
	find(`(?s)admission +system:serviceaccount:ci:deployer +Deployment shop/web +admitted` +
		`.*audit-read +dana` +
		`.*approval +carol +Deployment prod-payments/api +requested` +
		`.*approval +alice +Deployment prod-payments/api +approved` +
		`.*approval +bob +Deployment prod-payments/api +approved` +
		`.*approval +carol +Deployment prod-payments/api +used` +
		`.*admission +carol +Deployment prod-payments/api +admitted`)
	find(`Deployment dev-alice/tool +warned`)
	find(`Deployment shop/checkout +denied +image`)

	// What the log holds for the approved rollout, read back from the
	// store the demo kept: the approval it used and its pinned digest.
	q, err := runCommand(t, "audit", "query", "--store", "sqlite://"+filepath.Join(dir, "shipgate.db"),
		"-n", "prod-payments", "--decision", "admitted", "-o", "json")
	if err != nil {
		t.Fatalf("audit query: %v\n%s", err, q)
	}
	var entries []struct {
		Record struct {
			Approvals []string `json:"approvals"`
			Images    []struct{ Ref, Digest string }
		} `json:"record"`
	}
	if err := json.Unmarshal([]byte(q), &entries); err != nil || len(entries) != 1 {
		t.Fatalf("audit query of the approved rollout: %v\n%s", err, q)
	}
	r := entries[0].Record
	if len(r.Approvals) != 1 || r.Approvals[0] != id || len(r.Images) != 1 || !strings.HasPrefix(r.Images[0].Digest, "sha256:") {
		t.Errorf("the approved rollout's record: approvals %q, images %+v; want [%s] and one pinned image", r.Approvals, r.Images, id)
	}
}

// TestDemoApplyPatch: the played API server applies /mutate's patch
// before /validate, and refuses what it cannot apply.
func TestDemoApplyPatch(t *testing.T) {
	obj := []byte(`{"spec":{"containers":[{"name":"a","image":"x:1"},{"name":"b","image":"y:2"}]}}`)
	got, err := applyPatch(obj, []patchOp{{Op: "replace", Path: "/spec/containers/1/image", Value: "y:2@sha256:ab"}})
	if err != nil || string(got) != `{"spec":{"containers":[{"image":"x:1","name":"a"},{"image":"y:2@sha256:ab","name":"b"}]}}` {
		t.Errorf("replace: %s, %v", got, err)
	}
	for name, op := range map[string]patchOp{
		"an op other than replace": {Op: "add", Path: "/spec/containers/0/image", Value: "z"},
		"an index out of range":    {Op: "replace", Path: "/spec/containers/2/image", Value: "z"},
		"a key that is not there":  {Op: "replace", Path: "/spec/volumes", Value: "z"},
	} {
		if _, err := applyPatch(obj, []patchOp{op}); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
}
