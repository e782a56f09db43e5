package harness

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// registryPackage is the Debian package that ships the registry
// (distribution v2.8) as /usr/bin/docker-registry.
const registryPackage = "docker-registry"

// registryConfig is the registry's own config file: storage in the run's
// directory, loopback only, no auth, no access log. Deletes are on so a
// moved tag behaves as on a registry people run.
const registryConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: %s
`

// Registry is Debian's docker-registry serving plain HTTP on loopback,
// with its storage in the run's directory. go-containerregistry (shipgate,
// crane) and cosign speak HTTP to a 127.0.0.1 registry without being told.
type Registry struct {
	// Host is 127.0.0.1:PORT, the registry part of every reference.
	Host string
	// Dir holds the registry's config and storage.
	Dir string
}

// Ref is the full reference of repoTag ("team-a/web:1.0.0") in this
// registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// StartRegistry starts docker-registry with a config of its own (not the
// system service's) on a free loopback port and waits for /v2/. When the
// program is missing it installs the Debian package (apt-get, as root);
// when that is impossible the error says what to install.
func (c *Cluster) StartRegistry(ctx context.Context) (*Registry, error) {
	bin, err := registryBinary(ctx, c.log)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: hostPort(port), Dir: filepath.Join(c.Dir, "registry")}
	if err := os.MkdirAll(filepath.Join(r.Dir, "storage"), 0o755); err != nil {
		return nil, fmt.Errorf("making the registry's directory: %w", err)
	}
	cfg := filepath.Join(r.Dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, registryConfig, filepath.Join(r.Dir, "storage"), r.Host), 0o644); err != nil {
		return nil, fmt.Errorf("writing the registry's config: %w", err)
	}
	p, err := c.start("docker-registry", bin, []string{"serve", cfg})
	if err != nil {
		return nil, err
	}
	err = waitFor(ctx, "docker-registry /v2/", p, startTimeout, func(ctx context.Context) error {
		return httpOK(ctx, "http://"+r.Host+"/v2/", "")
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// registryBinary finds docker-registry on PATH or in /usr/bin, installing
// the Debian package when it is in neither.
func registryBinary(ctx context.Context, logger *log.Logger) (string, error) {
	find := func() (string, error) {
		if p, err := exec.LookPath("docker-registry"); err == nil {
			return p, nil
		}
		const deb = "/usr/bin/docker-registry"
		if fi, err := os.Stat(deb); err == nil && fi.Mode()&0o111 != 0 {
			return deb, nil
		}
		return "", errors.New("not found")
	}
	if p, err := find(); err == nil {
		return p, nil
	}
	start := time.Now()
	if err := aptInstall(ctx, registryPackage); err != nil {
		return "", fmt.Errorf("the e2e suite needs docker-registry (Debian package %s), which is missing, and installing it failed: %w; install it with `apt-get install -y %s`",
			registryPackage, err, registryPackage)
	}
	p, err := find()
	if err != nil {
		return "", fmt.Errorf("installed Debian package %s, yet docker-registry is not on PATH or in /usr/bin", registryPackage)
	}
	logger.Printf("installed %s (apt-get) in %s", registryPackage, time.Since(start).Round(time.Millisecond))
	return p, nil
}

// aptInstall installs Debian packages with apt-get, refreshing the package
// lists once if the first attempt fails (a fresh machine has none).
func aptInstall(ctx context.Context, pkgs ...string) error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root, so apt-get cannot install it")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("no apt-get on this machine")
	}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %v: %w\n%s", args, err, tail(out, 20))
		}
		return nil
	}
	install := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	if err := run(install...); err == nil {
		return nil
	}
	if err := run("update"); err != nil {
		return err
	}
	return run(install...)
}
