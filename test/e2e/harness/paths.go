package harness

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// mainModule is the module path of shipgate itself, found by walking up
// from the working directory.
const mainModule = "module github.com/shipgate/shipgate\n"

// Binaries are the programs the suite runs, all from the cache folder.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string
	Kubectl           string
	Helm              string
	// Shipgate is built from the working tree by BuildShipgate on every run.
	Shipgate string
}

// RepoRoot is the directory of shipgate's go.mod above the working
// directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte(mainModule)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository root: no go.mod of github.com/shipgate/shipgate above the working directory")
		}
		dir = parent
	}
}

// CacheDir is $SHIPGATE_E2E_CACHE or test/e2e/.cache, where
// scripts/e2e-build.sh puts what it builds.
func CacheDir(root string) string {
	if d := os.Getenv("SHIPGATE_E2E_CACHE"); d != "" {
		return d
	}
	return filepath.Join(root, "test", "e2e", ".cache")
}

// FindBinaries checks that every prebuilt program is in the cache and
// names all the missing ones, with how to build them.
func FindBinaries(root string) (Binaries, error) {
	bin := filepath.Join(CacheDir(root), "bin")
	b := Binaries{
		Etcd:              filepath.Join(bin, "etcd"),
		APIServer:         filepath.Join(bin, "kube-apiserver"),
		ControllerManager: filepath.Join(bin, "kube-controller-manager"),
		Kubectl:           filepath.Join(bin, "kubectl"),
		Helm:              filepath.Join(bin, "helm"),
		Shipgate:          filepath.Join(bin, "shipgate"),
	}
	var missing []string
	for _, p := range []string{b.Etcd, b.APIServer, b.ControllerManager, b.Kubectl, b.Helm} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("the e2e suite needs these programs, which are missing: %s; build them with scripts/e2e-build.sh (make e2e runs it)",
			strings.Join(missing, ", "))
	}
	return b, nil
}

// BuildShipgate builds ./cmd/shipgate of the working tree into the cache,
// statically and with the flags of `make build` and the Dockerfile (so the
// build cache serves both), checks it needs no libc, and says how long it
// took.
func BuildShipgate(ctx context.Context, root string, b Binaries) (time.Duration, error) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", b.Shipgate, "./cmd/shipgate")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building shipgate: %w\n%s", err, out)
	}
	if err := checkStatic(b.Shipgate); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// checkStatic fails unless path is an ELF executable that needs no libc:
// no program interpreter (ld.so) and no shared libraries, so it runs on
// the Dockerfile's distroless static base as it runs here.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("checking %s is static: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is not static: it names a program interpreter (built with cgo?)", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("checking %s is static: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s is not static: it needs %s", path, strings.Join(libs, ", "))
	}
	return nil
}
