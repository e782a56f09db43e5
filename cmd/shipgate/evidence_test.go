package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/internal/cosigntest"
	"github.com/shipgate/shipgate/internal/registrytest"
	"github.com/shipgate/shipgate/signer"
)

// evidenceFixture is a report among signer's test fixtures.
func evidenceFixture(name string) string {
	return filepath.Join("..", "..", "signer", "testdata", "evidence", name)
}

// runEvidence runs `shipgate evidence tests args…` in process.
func runEvidence(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"evidence", "tests"}, args...))
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func TestEvidenceTests(t *testing.T) {
	t.Parallel()
	config := filepath.Join(t.TempDir(), "ci.yml")
	if err := os.WriteFile(config, []byte("on: push\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args   []string
		result string
		failed []string
		url    string
		config bool
	}{
		"go test -json, all passed": {
			args: []string{"--go-test-json", evidenceFixture("gotest-pass.json")}, result: "PASSED",
		},
		"JUnit with a failure and an error": {
			args: []string{"--junit", evidenceFixture("junit-fail.xml")}, result: "FAILED",
			failed: []string{"tests.test_cart.test_total", "tests.test_db.test_connect"},
		},
		"the run's URL and configuration are recorded": {
			args:   []string{"--junit", evidenceFixture("junit-pass.xml"), "--url", "https://ci.example.com/runs/7", "--configuration", config},
			result: "PASSED", url: "https://ci.example.com/runs/7", config: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, err := runEvidence(t, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			tr, err := signer.ParseTestResult([]byte(stdout))
			if err != nil {
				t.Fatalf("stdout is no predicate: %v\n%s", err, stdout)
			}
			if tr.Result != tc.result || !slices.Equal(tr.FailedTests, tc.failed) || tr.URL != tc.url {
				t.Errorf("predicate %+v", tr)
			}
			if got := len(tr.Configuration) == 1 && tr.Configuration[0].Name == config && len(tr.Configuration[0].Digest["sha256"]) == 64; got != tc.config {
				t.Errorf("configuration %+v", tr.Configuration)
			}
			if !strings.Contains(stderr, "tests "+tc.result+":") {
				t.Errorf("stderr lacks the summary: %q", stderr)
			}
		})
	}
}

func TestEvidenceTestsWritesOutputFile(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "predicate.json")
	stdout, _, err := runEvidence(t, "--go-test-json", evidenceFixture("gotest-skip.json"), "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing with -o", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := signer.ParseTestResult(b); err != nil || tr.Result != "WARNED" {
		t.Errorf("-o file: %v %+v", err, tr)
	}
}

func TestEvidenceTestsRefusals(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		exit int // -1: a usage error from cobra
		want string
	}{
		"no report":                 {args: nil, exit: -1, want: "at least one of the flags in the group [junit go-test-json]"},
		"two reports":               {args: []string{"--junit", "a.xml", "--go-test-json", "b.json"}, exit: -1, want: "none of the others can be"},
		"--image without --key":     {args: []string{"--junit", evidenceFixture("junit-pass.xml"), "--image", "example.com/a:1"}, exit: -1, want: "must all be set"},
		"an empty report":           {args: []string{"--junit", evidenceFixture("junit-empty.xml")}, exit: 2},
		"a malformed report":        {args: []string{"--go-test-json", evidenceFixture("gotest-not-json.json")}, exit: 2},
		"a missing report":          {args: []string{"--junit", "nope.xml"}, exit: 2},
		"a relative --url":          {args: []string{"--junit", evidenceFixture("junit-pass.xml"), "--url", "runs/7"}, exit: 2},
		"a missing --configuration": {args: []string{"--junit", evidenceFixture("junit-pass.xml"), "--configuration", "nope.yml"}, exit: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stdout, _, err := runEvidence(t, tc.args...)
			if got := exitOf(err); got != tc.exit {
				t.Fatalf("exit %d (%v), want %d", got, err, tc.exit)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if stdout != "" {
				t.Errorf("printed %q", stdout)
			}
		})
	}
}

// TestEvidenceTestsAttestsForCosign attaches a test result with the
// command and has the real cosign CLI verify it. It sets COSIGN_PASSWORD,
// so it cannot run in parallel.
func TestEvidenceTestsAttestsForCosign(t *testing.T) {
	reg := registrytest.New(t)
	ref, digest := reg.PushRandom(t, "shop/api", "1.4.2")
	dir := t.TempDir()
	key, pub := cosigntest.KeyPair(t, dir)
	t.Setenv("COSIGN_PASSWORD", cosigntest.Password)

	predicateFile := filepath.Join(dir, "predicate.json")
	stdout, stderr, err := runEvidence(t, "--go-test-json", evidenceFixture("gotest-pass.json"),
		"-o", predicateFile, "--image", ref, "--key", key)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	image := reg.Host + "/shop/api@" + digest
	if got := strings.TrimSpace(stdout); got != image {
		t.Fatalf("printed %q, want %q", got, image)
	}

	root := cosigntest.EmptyTrustedRoot(t)
	out, _, err := cosigntest.Run(t, cosigntest.VerifyAttestationArgs(pub, root, signer.TestResultPredicateType, image)...)
	if err != nil {
		t.Fatalf("cosign verify-attestation refused what shipgate attached: %v", err)
	}
	statement := decodeEnvelope(t, out)
	if statement.PredicateType != signer.TestResultPredicateType || statement.Predicate.Result != "PASSED" ||
		len(statement.Subject) != 1 || "sha256:"+statement.Subject[0].Digest["sha256"] != digest ||
		statement.Subject[0].Name != reg.Host+"/shop/api" {
		t.Errorf("cosign verified the statement %+v", statement)
	}
	want, err := os.ReadFile(predicateFile)
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := signer.ParseTestResult(want); err != nil || !slices.Equal(tr.PassedTests, statement.Predicate.PassedTests) {
		t.Errorf("attested tests %q differ from -o's (%v)", statement.Predicate.PassedTests, err)
	}

	_, otherPub := cosigntest.KeyPair(t, t.TempDir())
	if _, _, err := cosigntest.Run(t, cosigntest.VerifyAttestationArgs(otherPub, root, signer.TestResultPredicateType, image)...); err == nil {
		t.Errorf("cosign verify-attestation accepted another key")
	}
}

type verifiedStatement struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate signer.TestResult `json:"predicate"`
}

// decodeEnvelope reads the one DSSE envelope cosign verify-attestation
// prints and returns its statement.
func decodeEnvelope(t *testing.T, out string) verifiedStatement {
	t.Helper()
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &env); err != nil {
		t.Fatalf("cosign printed %q: %v", out, err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var s verifiedStatement
	if err := json.Unmarshal(payload, &s); err != nil {
		t.Fatalf("statement %s: %v", payload, err)
	}
	return s
}

// TestEvidenceTestsAttestRefusals sets COSIGN_PASSWORD, so it cannot run
// in parallel. (The reasons go to the process's stderr; exit.go's
// exitWith writes there.)
func TestEvidenceTestsAttestRefusals(t *testing.T) {
	reg := registrytest.New(t)
	ref, _ := reg.PushRandom(t, "app", "v1")
	key, _ := cosigntest.SharedKeyPair(t, t.TempDir())
	report := evidenceFixture("gotest-pass.json")
	tests := []struct {
		name     string
		password *string
		args     []string
		exit     int
	}{
		{"no COSIGN_PASSWORD", nil, []string{"--image", ref, "--key", key}, 2},
		{"the wrong password", passwordOf("wrong"), []string{"--image", ref, "--key", key}, 2},
		{"a bad reference", passwordOf(cosigntest.Password), []string{"--image", "Not A Ref", "--key", key}, 2},
		{"an image the registry lacks", passwordOf(cosigntest.Password), []string{"--image", reg.Ref("app", "v9"), "--key", key}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COSIGN_PASSWORD", "")
			if tc.password == nil {
				os.Unsetenv("COSIGN_PASSWORD")
			} else {
				os.Setenv("COSIGN_PASSWORD", *tc.password)
			}
			stdout, _, err := runEvidence(t, append([]string{"--go-test-json", report}, tc.args...)...)
			if got := exitOf(err); got != tc.exit {
				t.Fatalf("exit %d (%v), want %d", got, err, tc.exit)
			}
			if stdout != "" {
				t.Errorf("printed %q", stdout)
			}
		})
	}
}

func passwordOf(s string) *string { return &s }
