package harness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"
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

// registryAuthConfig is appended to registryConfig for a private
// registry: htpasswd basic auth (bcrypt entries only), over plain HTTP on
// loopback.
const registryAuthConfig = `auth:
  htpasswd:
    realm: shipgate-e2e
    path: %s
`

// Registry is Debian's docker-registry serving plain HTTP on loopback,
// with its storage in the run's directory. go-containerregistry (shipgate,
// crane) and cosign speak HTTP to a 127.0.0.1 registry without being told.
type Registry struct {
	// Host is 127.0.0.1:PORT, the registry part of every reference.
	Host string
	// Dir holds the registry's config and storage.
	Dir string
	// Auth is the one user a private registry (StartPrivateRegistry)
	// accepts; nil for an open one. Push, Tag and Digest use it.
	Auth *RegistryUser
}

// RegistryUser is a user of a private registry's htpasswd file.
type RegistryUser struct {
	Username string
	Password string
}

// Ref is the full reference of repoTag ("team-a/web:1.0.0") in this
// registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// StartRegistry starts docker-registry with a config of its own (not the
// system service's) on a free loopback port and waits for /v2/. When the
// program is missing it installs the Debian package (apt-get, as root);
// when that is impossible the error says what to install.
func (c *Cluster) StartRegistry(ctx context.Context) (*Registry, error) {
	return c.startRegistry(ctx, "registry", nil)
}

// StartPrivateRegistry starts a second docker-registry, as StartRegistry
// does, that requires htpasswd basic auth: one user, username, with a
// random password (bcrypt in the htpasswd file). Anonymous requests get
// 401; Registry.Auth holds the credentials. name ("registry-private")
// names its directory and log.
func (c *Cluster) StartPrivateRegistry(ctx context.Context, name, username string) (*Registry, error) {
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("making a registry password: %w", err)
	}
	return c.startRegistry(ctx, name, &RegistryUser{Username: username, Password: hex.EncodeToString(pw)})
}

func (c *Cluster) startRegistry(ctx context.Context, name string, user *RegistryUser) (*Registry, error) {
	bin, err := registryBinary(ctx, c.log)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: hostPort(port), Dir: filepath.Join(c.Dir, name), Auth: user}
	if err := os.MkdirAll(filepath.Join(r.Dir, "storage"), 0o755); err != nil {
		return nil, fmt.Errorf("making the registry's directory: %w", err)
	}
	cfgText := fmt.Appendf(nil, registryConfig, filepath.Join(r.Dir, "storage"), r.Host)
	if user != nil {
		// docker-registry reads only bcrypt entries.
		hash, err := bcrypt.GenerateFromPassword([]byte(user.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("hashing the registry password: %w", err)
		}
		htpasswd := filepath.Join(r.Dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("writing the registry's htpasswd: %w", err)
		}
		cfgText = fmt.Appendf(cfgText, registryAuthConfig, htpasswd)
	}
	cfg := filepath.Join(r.Dir, "config.yml")
	if err := os.WriteFile(cfg, cfgText, 0o644); err != nil {
		return nil, fmt.Errorf("writing the registry's config: %w", err)
	}
	procName := "docker-registry"
	if name != "registry" {
		procName = "docker-" + name
	}
	p, err := c.start(procName, bin, []string{"serve", cfg})
	if err != nil {
		return nil, err
	}
	err = waitFor(ctx, procName+" /v2/", p, startTimeout, func(ctx context.Context) error {
		return r.ping(ctx, r.Auth)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ping GETs /v2/ as user (nil: anonymously) and wants 200.
func (r *Registry) ping(ctx context.Context, user *RegistryUser) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host+"/v2/", nil)
	if err != nil {
		return err
	}
	if user != nil {
		req.SetBasicAuth(user.Username, user.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET http://%s/v2/: %s: %s", r.Host, resp.Status, body)
	}
	return nil
}

// AnonymousStatus is the status docker-registry answers an anonymous GET
// /v2/ with: 200 when open, 401 when private.
func (r *Registry) AnonymousStatus(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host+"/v2/", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// DockerConfigJSON is a Docker config.json (also a kubernetes.io/
// dockerconfigjson Secret's .dockerconfigjson) holding the private
// registry's credentials for its Host.
func (r *Registry) DockerConfigJSON() ([]byte, error) {
	if r.Auth == nil {
		return nil, fmt.Errorf("registry %s takes no credentials", r.Host)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(r.Auth.Username + ":" + r.Auth.Password))
	return json.Marshal(map[string]any{"auths": map[string]any{r.Host: map[string]string{
		"username": r.Auth.Username, "password": r.Auth.Password, "auth": auth,
	}}})
}

// WriteDockerConfig writes DockerConfigJSON as dir/config.json, a
// DOCKER_CONFIG directory for cosign.
func (r *Registry) WriteDockerConfig(dir string) error {
	b, err := r.DockerConfigJSON()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making Docker config directory %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		return fmt.Errorf("writing the Docker config: %w", err)
	}
	return nil
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
