package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// CosignVersion is the cosign release the suite signs with: the one
// shipgate's signer is built against (make cosign installs it).
const CosignVersion = "v2.6.5"

// cosignPassword encrypts the keys GenerateKeyPair writes.
const cosignPassword = "shipgate-e2e"

// cosignTimeout bounds one cosign run: offline each takes about a second,
// so a minute means something hangs.
const cosignTimeout = time.Minute

// emptyTrustedRoot is a Sigstore trusted root with no authorities and no
// logs: given as --trusted-root it keeps verify from fetching the public one
// through TUF, and a key needs nothing from it.
const emptyTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`

// TestResultPredicateType is the in-toto test-result predicate shipgate
// requires.
const TestResultPredicateType = "https://in-toto.io/attestation/test-result/v0.1"

// Cosign runs the real cosign CLI offline: a HOME, TUF root, Docker config
// and XDG directories of its own, and every proxy variable pointing at a
// tripwire on loopback, so any attempt to reach a public Sigstore service or
// TUF mirror fails at once and is named in the error. Loopback registries
// are never proxied.
type Cosign struct {
	Bin string
	// Dir holds its home, keys and predicates.
	Dir  string
	root string
	trip *tripwire
	// dockerConfig is DOCKER_CONFIG; "" is the empty one in its home.
	dockerConfig string
}

// KeyPair is a cosign key pair on disk.
type KeyPair struct {
	Key string // cosign.key, encrypted with the harness's password
	Pub string // cosign.pub, PEM
}

// NewCosign finds cosign ($SHIPGATE_COSIGN, else $(go env GOPATH)/bin/cosign),
// checks it is CosignVersion, and prepares its directory under dir. The
// tripwire stops with ctx.
func NewCosign(ctx context.Context, dir string) (*Cosign, error) {
	bin, err := cosignBinary(ctx)
	if err != nil {
		return nil, err
	}
	c := &Cosign{Bin: bin, Dir: filepath.Join(dir, "cosign")}
	if err := os.MkdirAll(filepath.Join(c.Dir, "home"), 0o755); err != nil {
		return nil, fmt.Errorf("making cosign's directory: %w", err)
	}
	c.root = filepath.Join(c.Dir, "trusted_root.json")
	if err := os.WriteFile(c.root, []byte(emptyTrustedRoot), 0o644); err != nil {
		return nil, fmt.Errorf("writing the empty trusted root: %w", err)
	}
	if c.trip, err = newTripwire(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// cosignBinary is the cosign the suite runs, checked to be CosignVersion.
func cosignBinary(ctx context.Context) (string, error) {
	bin := os.Getenv("SHIPGATE_COSIGN")
	if bin == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output()
		if err != nil {
			return "", fmt.Errorf("running go env GOPATH: %w", err)
		}
		gopath, _, _ := strings.Cut(strings.TrimSpace(string(out)), string(os.PathListSeparator))
		bin = filepath.Join(gopath, "bin", "cosign")
	}
	hint := fmt.Sprintf("install it with `make cosign` (go install github.com/sigstore/cosign/v2/cmd/cosign@%s) or set SHIPGATE_COSIGN", CosignVersion)
	out, err := exec.CommandContext(ctx, bin, "version", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("the e2e suite needs the cosign CLI %s at %s: %v; %s", CosignVersion, bin, err, hint)
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.GitVersion != CosignVersion {
		return "", fmt.Errorf("%s is cosign %q, the e2e suite needs %s; %s", bin, v.GitVersion, CosignVersion, hint)
	}
	return bin, nil
}

// WithDockerConfig is this cosign reading registry credentials from the
// Docker config in dir (DOCKER_CONFIG; Registry.WriteDockerConfig writes
// one), for a private registry. c itself is unchanged.
func (c *Cosign) WithDockerConfig(dir string) *Cosign {
	cc := *c
	cc.dockerConfig = dir
	return &cc
}

// GenerateKeyPair runs `cosign generate-key-pair` in Dir/name.
func (c *Cosign) GenerateKeyPair(ctx context.Context, name string) (KeyPair, error) {
	dir := filepath.Join(c.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return KeyPair{}, fmt.Errorf("making the directory of key %s: %w", name, err)
	}
	if _, err := c.run(ctx, dir, "generate-key-pair"); err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Key: filepath.Join(dir, "cosign.key"), Pub: filepath.Join(dir, "cosign.pub")}, nil
}

// Sign signs image (by digest) with key, in cosign v2's .sig tag layout,
// uploading nothing to a transparency log.
func (c *Cosign) Sign(ctx context.Context, key KeyPair, image string) error {
	_, err := c.run(ctx, c.Dir, "sign", "--key", key.Key, "--tlog-upload=false", "--yes", image)
	return err
}

// Attest attaches predicate, of predicateType, to image (by digest), signed
// with key, in cosign v2's .att tag layout, without a transparency log.
func (c *Cosign) Attest(ctx context.Context, key KeyPair, predicateType string, predicate []byte, image string) error {
	f, err := os.CreateTemp(c.Dir, "predicate-*.json")
	if err != nil {
		return fmt.Errorf("writing the predicate: %w", err)
	}
	_, werr := f.Write(predicate)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("writing the predicate: %w", werr)
	}
	_, err = c.run(ctx, c.Dir, "attest", "--key", key.Key, "--tlog-upload=false", "--yes",
		"--type", predicateType, "--predicate", f.Name(), image)
	return err
}

// Verify checks image's signature with the public key as cosign itself
// does, offline.
func (c *Cosign) Verify(ctx context.Context, key KeyPair, image string) error {
	_, err := c.run(ctx, c.Dir, "verify", "--key", key.Pub, "--insecure-ignore-tlog=true", "--trusted-root", c.root, image)
	return err
}

// VerifyAttestation checks image's attestations of predicateType with the
// public key, offline.
func (c *Cosign) VerifyAttestation(ctx context.Context, key KeyPair, predicateType, image string) error {
	_, err := c.run(ctx, c.Dir, "verify-attestation", "--key", key.Pub, "--insecure-ignore-tlog=true",
		"--trusted-root", c.root, "--type", predicateType, image)
	return err
}

// run runs cosign in dir and returns its stdout; a failure, or any attempt
// to use the network, is an error carrying what it printed.
func (c *Cosign) run(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cosignTimeout)
	defer cancel()
	home := filepath.Join(c.Dir, "home")
	dockerConfig := c.dockerConfig
	if dockerConfig == "" {
		dockerConfig = filepath.Join(home, ".docker")
	}
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cosignEnv(),
		"HOME="+home,
		"TUF_ROOT="+filepath.Join(home, ".sigstore", "root"),
		"DOCKER_CONFIG="+dockerConfig,
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"COSIGN_PASSWORD="+cosignPassword,
		"HTTP_PROXY="+c.trip.url, "HTTPS_PROXY="+c.trip.url,
		"http_proxy="+c.trip.url, "https_proxy="+c.trip.url,
		"NO_PROXY=", "no_proxy=",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before := c.trip.count()
	err := cmd.Run()
	if hosts := c.trip.since(before); len(hosts) > 0 {
		return "", fmt.Errorf("cosign %s tried the network (%s): it must run offline\n%s", args[0], strings.Join(hosts, ", "), stderr.String())
	}
	if err != nil {
		return "", fmt.Errorf("running cosign %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// cosignEnv is the environment without what could point cosign at other
// keys, caches, credentials or the network.
func cosignEnv() []string {
	var env []string
	for _, kv := range cleanEnv() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "COSIGN_"), strings.HasPrefix(k, "SIGSTORE_"), strings.HasPrefix(k, "XDG_"),
			k == "HOME", k == "TUF_ROOT", k == "DOCKER_CONFIG":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tripwire is an HTTP proxy on loopback that refuses every request and
// remembers where it was asked to go.
type tripwire struct {
	url  string
	mu   sync.Mutex
	seen []string
}

func newTripwire(ctx context.Context) (*tripwire, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting cosign's network tripwire: %w", err)
	}
	t := &tripwire{url: "http://" + l.Addr().String()}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go t.refuse(conn)
		}
	}()
	return t, nil
}

// refuse reads the request line ("CONNECT host:443 HTTP/1.1" or "GET
// http://host/… HTTP/1.1"), notes the target and answers 403.
func (t *tripwire) refuse(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	target := line
	if f := strings.Fields(line); len(f) >= 2 {
		target = f[1]
	}
	t.mu.Lock()
	t.seen = append(t.seen, target)
	t.mu.Unlock()
	_, _ = conn.Write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
}

func (t *tripwire) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen)
}

func (t *tripwire) since(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.seen[n:]...)
}
