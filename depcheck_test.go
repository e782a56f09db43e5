package shipgate

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/shipgate/shipgate"

// TestImportArrows guards the package arrows of DESIGN.md on the direct
// imports of every package in the module (tests excluded): nothing imports
// server or cmd; the domain packages import neither gin nor server (their
// REST routes live apart, in audit/api and approval/api); only
// the */kube packages, signer and server talk to the Kubernetes API; the
// webhook imports only the domain packages of shipgate.
func TestImportArrows(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		imports[strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")] = fields[1:]
	}
	if len(imports) < 8 {
		t.Fatalf("go list found only %d packages: %v", len(imports), imports)
	}
	domain := []string{"workload", "config", "signer", "policy", "approval", "audit", "store", "auth"}
	kubeAllowed := []string{"server", "signer", "policy/kube", "config/kube", "workload/kube", "approval/kube", "auth/kube", "internal/kube", "internal/kube/kubetest"}
	webhookMay := []string{"workload", "config", "signer", "policy", "approval", "audit"}

	for pkg, deps := range imports {
		top, _, _ := strings.Cut(pkg, "/")
		for _, dep := range deps {
			own, isOwn := strings.CutPrefix(dep, module+"/")
			switch {
			case isOwn && (own == "server" || strings.HasPrefix(own, "cmd/")) && pkg != "cmd/shipgate":
				t.Errorf("%s imports %s: nothing but the binary may", pkg, own)
			case slices.Contains(domain, top) && !strings.HasSuffix(pkg, "/api") && (strings.HasPrefix(dep, "github.com/gin-gonic/") || own == "server"):
				t.Errorf("%s imports %s: domain packages stay free of HTTP wiring", pkg, dep)
			case strings.HasPrefix(dep, "k8s.io/client-go") && !slices.Contains(kubeAllowed, pkg) && !strings.HasPrefix(pkg, "test/"):
				t.Errorf("%s imports %s: only the kube packages, signer and server talk to the API server", pkg, dep)
			case pkg == "webhook" && isOwn && !slices.Contains(webhookMay, own):
				t.Errorf("webhook imports %s: it may use only %v", own, webhookMay)
			}
		}
	}
	for _, leaf := range []string{"workload", "workload/manifest"} {
		for _, dep := range imports[leaf] {
			if strings.HasPrefix(dep, module) && !strings.HasPrefix(dep, module+"/internal/") {
				t.Errorf("%s is a leaf but imports %s", leaf, dep)
			}
		}
	}
}

// TestBinaryLeavesOutTheClientset: the binary talks to the API server
// through internal/kube, and links none of client-go's generated
// clientset, informers, listers, apply configurations or leader election,
// nor anything that does. Each brings every API group Kubernetes has: the
// binary was 35 MB larger with them, and each replica's resident memory
// 23 MiB larger. Nor does it link a test double.
func TestBinaryLeavesOutTheClientset(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "./cmd/shipgate").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "k8s.io/client-go/dynamic") || !slices.Contains(deps, module+"/internal/kube") {
		t.Fatalf("go list -deps does not list the dynamic client and internal/kube: %d packages", len(deps))
	}
	banned := []string{
		"k8s.io/client-go/kubernetes", "k8s.io/client-go/informers", "k8s.io/client-go/listers",
		"k8s.io/client-go/applyconfigurations", "k8s.io/client-go/tools/leaderelection",
		"k8s.io/client-go/testing", "k8s.io/client-go/dynamic/fake",
		"github.com/google/go-containerregistry/pkg/authn/kubernetes",
		module + "/internal/kube/kubetest",
	}
	for _, dep := range deps {
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("the binary links %s", dep)
			}
		}
	}
	// Only the groups shipgate reads or writes.
	groups := map[string]bool{}
	for _, dep := range deps {
		if rest, ok := strings.CutPrefix(dep, "k8s.io/api/"); ok {
			g, _, _ := strings.Cut(rest, "/")
			groups[g] = true
		}
	}
	for g := range groups {
		if !slices.Contains([]string{"admission", "apps", "authentication", "authorization", "batch", "coordination", "core"}, g) {
			t.Errorf("the binary links the API group %s", g)
		}
	}
}
