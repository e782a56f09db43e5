package server

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/webhook"
)

// The revisions TestReloadsUnderLoadMisdecideNothing flips between. The
// configuration binds namespaces either to policy set gate_a in enforce
// mode ("a") or to gate_b in warn mode ("b"); the policy directory holds
// both sets at revision 1 or 2. Each set warns with a tag naming itself
// and its revision, so every answer says which configuration and which
// policy decided it, and refuses one colour, a different one per set and
// revision, so the tag and the verdict can be checked against each other.
var refusedColour = map[string]map[int]string{
	"a": {1: "red", 2: "blue"},
	"b": {1: "blue", 2: "red"},
}

func reloadConfig(set, pdir string) string {
	mode := map[string]string{"a": "enforce", "b": "warn"}[set]
	return fmt.Sprintf("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: %s, policies: [gate_%s]}\npolicies: {directory: %s}\n", mode, set, pdir)
}

func reloadPolicy(set string, rev int) string {
	return fmt.Sprintf(`package shipgate.gate_%[1]s

warn contains "revision tag: gate_%[1]s/%[2]d"

deny contains "gate_%[1]s rev %[2]d refuses %[3]s" if {
	input.request.object.metadata.labels.colour == %[3]q
}
`, set, rev, refusedColour[set][rev])
}

var revisionTag = regexp.MustCompile(`revision tag: gate_([ab])/([12])`)

// judgeReloaded checks an answer to a Deployment of the given colour: it
// must carry exactly one revision tag, and be exactly what that
// configuration and policy revision decide. It returns the tag.
func judgeReloaded(resp *admissionv1.AdmissionResponse, colour string) (string, error) {
	warnings := strings.Join(resp.Warnings, "\n")
	tags := revisionTag.FindAllStringSubmatch(warnings, -1)
	if len(tags) != 1 {
		return "", fmt.Errorf("%d revision tags in the warnings %q, want 1", len(tags), resp.Warnings)
	}
	set, rev := tags[0][1], int(tags[0][2][0]-'0')
	tag := set + "/" + tags[0][2]
	message := ""
	if resp.Result != nil {
		message = resp.Result.Message
	}
	refusal := fmt.Sprintf("gate_%s rev %d refuses %s", set, rev, colour)
	refused := refusedColour[set][rev] == colour
	if n := strings.Count(message+"\n"+warnings, "refuses"); n != map[bool]int{true: 1, false: 0}[refused] {
		return tag, fmt.Errorf("%s, colour %s: %d refusals in %q %q", tag, colour, n, message, resp.Warnings)
	}
	switch {
	case set == "a" && resp.Allowed == refused:
		return tag, fmt.Errorf("%s (enforce), colour %s: allowed=%v %q", tag, colour, resp.Allowed, message)
	case set == "a" && refused && (resp.Result.Code != 403 || !strings.Contains(message, refusal)):
		return tag, fmt.Errorf("%s (enforce), colour %s: refused with %d %q, want 403 %q", tag, colour, resp.Result.Code, message, refusal)
	case set == "b" && !resp.Allowed:
		return tag, fmt.Errorf("%s (warn), colour %s: refused %q", tag, colour, message)
	case set == "b" && refused && !strings.Contains(warnings, refusal):
		return tag, fmt.Errorf("%s (warn), colour %s: warnings %q, want %q", tag, colour, resp.Warnings, refusal)
	}
	return tag, nil
}

// TestReloadsUnderLoadMisdecideNothing: admissions run without a pause
// while the configuration file and the policy directory are rewritten
// again and again (each alone and both at once). Every answer must be an
// HTTP 200 AdmissionReview carrying one configuration-and-policy tag and
// be exactly the decision of that configuration and policy: a failed
// request, an error, a torn configuration (enforce with gate_b's policy,
// say) or a mixed policy (one revision's tag with the other's refusal)
// fails the test.
func TestReloadsUnderLoadMisdecideNothing(t *testing.T) {
	const workers = 8
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	setPolicy := func(rev int) {
		for _, set := range []string{"a", "b"} {
			writeAtomically(t, filepath.Join(pdir, "gate_"+set+".rego"), reloadPolicy(set, rev))
		}
	}
	setPolicy(1)
	cfg := filepath.Join(dir, "gateway.yaml")
	writeAtomically(t, cfg, reloadConfig("a", pdir))
	pv := &pacedVerifier{}
	r := startWith(t, cfg, webhook.WithVerifier(pv))
	client := patient(r.client)

	colours := []string{"red", "blue", "green"}
	var (
		sent  atomic.Int64
		fails failures
		mu    sync.Mutex
		seen  = map[string]int{} // answers by tag
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	ask := func(uid, colour string) (string, bool) {
		body := deploymentWith(uid, fmt.Sprintf(`{"colour":%q}`, colour), "registry.example.com/shop/web:1.0")
		a := admit(client, r.base+"/validate?timeout=10s", body)
		sent.Add(1)
		if a.err != nil {
			fails.add("%s: %v", uid, a.err)
			return "", false
		}
		tag, err := judgeReloaded(a.resp, colour)
		if err != nil {
			fails.add("%s: %v", uid, err)
			return tag, false
		}
		mu.Lock()
		seen[tag]++
		mu.Unlock()
		return tag, true
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ask(fmt.Sprintf("w%d-%d", w, i), colours[(w+i)%len(colours)])
			}
		}()
	}

	// Each step rewrites what differs from the one before, and waits
	// until an answer is tagged with the new pair.
	steps := []struct {
		set string
		rev int
	}{{"b", 1}, {"b", 2}, {"a", 2}, {"b", 1}, {"a", 1}, {"b", 2}, {"a", 1}}
	cur := struct {
		set string
		rev int
	}{"a", 1}
	configs, policies := 0, 0
	for i, next := range steps {
		before := sent.Load()
		waitFor(t, "load to run", func() bool { return sent.Load() >= before+50 })
		if next.rev != cur.rev {
			setPolicy(next.rev)
			policies++
		}
		if next.set != cur.set {
			writeAtomically(t, cfg, reloadConfig(next.set, pdir))
			configs++
		}
		want := fmt.Sprintf("%s/%d", next.set, next.rev)
		n := 0
		waitFor(t, "revision "+want+" to decide", func() bool {
			n++
			tag, _ := ask(fmt.Sprintf("probe-%d-%d", i, n), colours[n%len(colours)])
			return tag == want
		})
		cur = next
	}
	close(stop)
	wg.Wait()

	fails.check(t, sent.Load())
	for _, tag := range []string{"a/1", "a/2", "b/1", "b/2"} {
		if seen[tag] == 0 {
			t.Errorf("no answer was decided by configuration and policy %s", tag)
		}
	}
	if got := get(t, r.client, r.base+"/metrics"); !strings.Contains(got, "shipgate_config_reload_errors_total 0") || !strings.Contains(got, "shipgate_policy_reload_errors_total 0") {
		t.Error("a reload was refused: the rewritten files must always load")
	}
	t.Logf("%d admissions over %d reloads (%d of the configuration, %d of the policy); %d failed or mis-decided; answers by configuration/policy: %v",
		sent.Load(), len(steps), configs, policies, fails.n, seen)
}

// TestJudgeReloadedCatchesMixedAnswers: the check above fails an error, a
// torn configuration, a mixed policy and an answer of no revision.
func TestJudgeReloadedCatchesMixedAnswers(t *testing.T) {
	refused := func(msg string, warnings ...string) *admissionv1.AdmissionResponse {
		return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Code: 403, Message: msg}, Warnings: warnings}
	}
	allowed := func(warnings ...string) *admissionv1.AdmissionResponse {
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings}
	}
	for name, tc := range map[string]struct {
		resp   *admissionv1.AdmissionResponse
		colour string
		ok     bool
	}{
		"a/1 refuses red":                     {refused("gate_a rev 1 refuses red", "revision tag: gate_a/1"), "red", true},
		"b/1 warns of blue":                   {allowed("revision tag: gate_b/1", "gate_b rev 1 refuses blue"), "blue", true},
		"a/2 admits red":                      {allowed("revision tag: gate_a/2"), "red", true},
		"a/1 admits red":                      {allowed("revision tag: gate_a/1"), "red", false},
		"enforce tag, warn answer (torn)":     {allowed("revision tag: gate_a/1", "gate_a rev 1 refuses red"), "red", false},
		"warn tag, refused (torn)":            {refused("gate_b rev 1 refuses blue", "revision tag: gate_b/1"), "blue", false},
		"rev 1 tag, rev 2 refusal (mixed)":    {refused("gate_a rev 2 refuses blue", "revision tag: gate_a/1"), "blue", false},
		"two tags (mixed)":                    {allowed("revision tag: gate_a/1", "revision tag: gate_a/2"), "green", false},
		"policy error: no tag":                {&admissionv1.AdmissionResponse{Result: &metav1.Status{Code: 500, Message: "evaluating policy: unknown set"}}, "green", false},
		"refused for another colour's reason": {refused("gate_a rev 1 refuses red", "revision tag: gate_a/1"), "green", false},
	} {
		if _, err := judgeReloaded(tc.resp, tc.colour); (err == nil) != tc.ok {
			t.Errorf("%s: judged %v, want ok=%v", name, err, tc.ok)
		}
	}
}
