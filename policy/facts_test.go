package policy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestFactsValueIsTheJSONRoundTrip holds Facts.value to what the facts
// were before it: encoding/json's output parsed as input. Random facts
// cover every member empty, absent and set, nil and empty slices and maps,
// and strings that are not valid UTF-8.
func TestFactsValueIsTheJSONRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []Facts{{}, fullFacts()}
	for range 500 {
		cases = append(cases, randomFacts(rng))
	}
	refused := 0
	for i, f := range cases {
		var want ast.Value
		raw, err := json.Marshal(f)
		if err == nil {
			want, err = parseJSON(raw)
		}
		got, gotErr := f.value()
		if (err != nil) != (gotErr != nil) {
			t.Fatalf("case %d: through JSON the error is %v, directly %v", i, err, gotErr)
		}
		if err != nil {
			refused++
			continue
		}
		if ast.Compare(got, want) != 0 {
			t.Fatalf("case %d:\n got %v\nwant %v", i, got, want)
		}
	}
	if refused == 0 || refused > len(cases)/2 {
		t.Fatalf("%d of %d cases refused: the cases do not cover both outcomes", refused, len(cases))
	}
}

// TestFactsValueRefusesABadPredicate: a predicate that is not JSON is an
// error naming the image, as the JSON round trip's was an error.
func TestFactsValueRefusesABadPredicate(t *testing.T) {
	t.Parallel()
	f := fullFacts()
	f.Images[0].Attestations[0].Predicate = json.RawMessage(`{"result": PASSED}`)
	if _, err := f.value(); err == nil {
		t.Fatal("a predicate that is not JSON was accepted")
	}
	in := Input{Review: json.RawMessage(`{"request":{}}`), Shipgate: f}
	if _, err := in.Value(); err == nil {
		t.Fatal("Input.Value accepted a predicate that is not JSON")
	}
}

// predicateShapes are predicates as they may arrive, the last few not
// JSON at all.
var predicateShapes = []string{
	``, `null`, ` {"result":"PASSED"} `, `{"result":"FAILED","tests":[1,2.5e3,"x",-0,1E2,1.0]}`,
	`{"html":"<&>","sep":"\u2028","esc":"\ud83d\ude00"}`, `[]`, `"text"`, `true`, `{"a":{"b":[{},[],null]}}`,
	`{"result": PASSED}`, `{"a":1,"a":2}`, `{"a":1} {}`, "\"\xff\"", `"\ud800"`, `1e999999999999`,
}

func fullFacts() Facts {
	return Facts{
		Namespace: NamespaceFacts{Name: "shop", Labels: map[string]string{"team": "checkout", "tier": "<prod>&"}},
		Workload: WorkloadFacts{Kind: "Deployment", Name: "checkout", Class: "rollout", TemplateHash: "sha256:ab",
			Fingerprint: "fp", ImagesChanged: true},
		Images: []ImageFacts{{
			Ref: "registry.example/shop/checkout:1.2", Normalized: "registry.example/shop/checkout:1.2", Tag: "1.2",
			Digest: "sha256:01", Containers: []string{"app", "init"}, TrustPolicy: "shop", Verified: true,
			SignedDigest: "sha256:02", Stale: true, Authorities: []string{"release"},
			Signers: []SignerFacts{{Name: "release", KeyID: "k1"}, {Name: "ci", Subject: "ci@example", Issuer: "https://issuer"}},
			Attestations: []AttestationFacts{{PredicateType: "https://example/test-result/v1", Authority: "ci",
				Predicate: json.RawMessage(`{"result":"PASSED","passedTests":["a","b\u00e9"],"n":3.5,"nested":{"x":[null,true,{}]}}`),
				SignedAt:  "2026-11-27T10:00:00Z"}},
			Errors: []string{"e"},
		}},
		Approval: ApprovalFacts{State: "approved", RequestID: "r1", Approvers: []string{"alice", "bob"}},
	}
}

func randomFacts(rng *rand.Rand) Facts {
	s := func() string {
		switch rng.IntN(6) {
		case 0:
			return ""
		case 1:
			return "bad\xffutf8\xc3" // invalid bytes, one of them a cut-off sequence
		case 2:
			return "<&>\"\\ ünïcode \u2028"
		}
		return string(rune('a' + rng.IntN(26)))
	}
	ss := func() []string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		out := make([]string, 1+rng.IntN(3))
		for i := range out {
			out[i] = s()
		}
		return out
	}
	f := Facts{
		Namespace: NamespaceFacts{Name: s()},
		Workload:  WorkloadFacts{Kind: s(), Name: s(), Class: s(), TemplateHash: s(), Fingerprint: s(), ImagesChanged: rng.IntN(2) == 0},
		Approval:  ApprovalFacts{State: s(), RequestID: s(), Approvers: ss()},
	}
	if rng.IntN(3) > 0 {
		f.Namespace.Labels = map[string]string{}
		for range rng.IntN(3) {
			f.Namespace.Labels["k"+string(rune('a'+rng.IntN(26)))] = s()
		}
		switch rng.IntN(8) {
		case 0: // a key with an invalid byte
			f.Namespace.Labels["team\xff"] = s()
		case 1: // two keys that are one once the invalid bytes are replaced
			f.Namespace.Labels["team\xff"], f.Namespace.Labels["team\xfe"] = s(), s()
		case 2: // and a valid key that is that one
			f.Namespace.Labels["team\xff"], f.Namespace.Labels["team\ufffd"] = s(), s()
		}
	}
	if rng.IntN(4) > 0 {
		f.Images = []ImageFacts{}
	}
	for range rng.IntN(3) {
		if f.Images == nil {
			f.Images = []ImageFacts{}
		}
		im := ImageFacts{Ref: s(), Normalized: s(), Tag: s(), Digest: s(), Containers: ss(), TrustPolicy: s(),
			Verified: rng.IntN(2) == 0, SignedDigest: s(), Stale: rng.IntN(2) == 0, Authorities: ss(), Errors: ss()}
		if rng.IntN(4) == 0 {
			im.Signers = []SignerFacts{} // empty, not nil: still left out
		}
		for range rng.IntN(3) {
			im.Signers = append(im.Signers, SignerFacts{Name: s(), KeyID: s(), Subject: s(), Issuer: s()})
		}
		if rng.IntN(3) > 0 {
			im.Attestations = []AttestationFacts{}
		}
		for range rng.IntN(3) {
			if im.Attestations == nil {
				im.Attestations = []AttestationFacts{}
			}
			a := AttestationFacts{PredicateType: s(), Authority: s(), SignedAt: s()}
			a.Predicate = json.RawMessage(predicateShapes[rng.IntN(len(predicateShapes))])
			im.Attestations = append(im.Attestations, a)
		}
		f.Images = append(f.Images, im)
	}
	return f
}

// TestPredicateCache: a predicate seen before gives the same value, from
// any number of goroutines at once; the cache never holds more than
// maxPredicateBytes of predicates, nor one over maxCachedPredicate.
func TestPredicateCache(t *testing.T) {
	t.Parallel()
	c := &predicateCache{m: map[string]*ast.Term{}}
	raw := []byte(`{"result":"PASSED","passedTests":["a"]}`)
	want, err := parseJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for range 8 {
		go func() {
			for range 200 {
				got, err := c.value(raw)
				if err == nil && ast.Compare(got.Value, want) != 0 {
					err = fmt.Errorf("got %v, want %v", got, want)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i := range maxPredicateBytes / 100 {
		if _, err := c.value(fmt.Appendf(nil, `{"n":%d,"pad":"%090d"}`, i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	held := 0
	for k := range c.m {
		held += len(k)
	}
	if held > maxPredicateBytes || held != c.bytes || len(c.m) == 0 {
		t.Fatalf("the cache holds %d bytes of predicates (it counts %d), want 1..%d", held, c.bytes, maxPredicateBytes)
	}
	big := fmt.Appendf(nil, `{"pad":"%0*d"}`, maxCachedPredicate, 0)
	if _, err := c.value(big); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.m[string(big)]; ok {
		t.Fatal("a predicate over maxCachedPredicate was kept")
	}
	if _, err := c.value([]byte(`{"n":`)); err == nil {
		t.Fatal("a predicate that is not JSON was accepted")
	}
}
