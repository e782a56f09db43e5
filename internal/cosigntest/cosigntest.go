package cosigntest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/cosign/v2/pkg/cosign"
)

// Version is the cosign release the tests drive.
const Version = "v2.6.5"

// Password encrypts the keys KeyPair writes; Run hands it to cosign as
// COSIGN_PASSWORD.
const Password = "shipgate-test-password"

// runTimeout bounds one cosign run: offline, each takes well under a
// second, so a minute means something hangs.
const runTimeout = time.Minute

var installed = sync.OnceValues(func() (string, error) {
	path := os.Getenv("SHIPGATE_COSIGN")
	if path == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err != nil {
			return "", fmt.Errorf("running go env GOPATH: %w", err)
		}
		gopath, _, _ := strings.Cut(strings.TrimSpace(string(out)), string(os.PathListSeparator))
		path = filepath.Join(gopath, "bin", "cosign")
	}
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	out, err := exec.Command(path, "version", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("running %s version: %w", path, err)
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", fmt.Errorf("reading %s version: %w", path, err)
	}
	if v.GitVersion != Version {
		return "", fmt.Errorf("%s is cosign %s, want %s", path, v.GitVersion, Version)
	}
	return path, nil
})

// Binary is the path of the cosign CLI: $SHIPGATE_COSIGN if set, else
// $(go env GOPATH)/bin/cosign. The test fails when it is missing or is not
// Version.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := installed()
	if err != nil {
		t.Fatalf("cosign CLI: %v\nrun: go install github.com/sigstore/cosign/v2/cmd/cosign@%s (or set SHIPGATE_COSIGN)", err, Version)
	}
	return path
}

// KeyPair writes a new encrypted cosign key pair (cosign.key,
// cosign.pub), protected by Password, to dir.
func KeyPair(t testing.TB, dir string) (keyPath, pubPath string) {
	t.Helper()
	keys, err := generateKeyPair()
	if err != nil {
		t.Fatalf("generating a cosign key pair: %v", err)
	}
	return writeKeyPair(t, dir, keys)
}

// SharedKeyPair writes the process's one key pair, made once, to dir: for
// tests that need a key but not a key of their own. Encrypting a cosign
// key (scrypt) costs most of a second of CPU.
func SharedKeyPair(t testing.TB, dir string) (keyPath, pubPath string) {
	t.Helper()
	keys, err := sharedKeys()
	if err != nil {
		t.Fatalf("generating a cosign key pair: %v", err)
	}
	return writeKeyPair(t, dir, keys)
}

var sharedKeys = sync.OnceValues(generateKeyPair)

func generateKeyPair() (*cosign.KeysBytes, error) {
	return cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte(Password), nil })
}

func writeKeyPair(t testing.TB, dir string, keys *cosign.KeysBytes) (keyPath, pubPath string) {
	t.Helper()
	keyPath, pubPath = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(keyPath, keys.PrivateBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, keys.PublicBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyPath, pubPath
}

// EmptyTrustedRoot writes a Sigstore trusted root with no authorities and
// no logs and returns its path: passed as --trusted-root it keeps verify
// from fetching the public one from TUF, and verification by key needs
// nothing from it.
func EmptyTrustedRoot(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	const root = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`
	if err := os.WriteFile(path, []byte(root), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Run runs cosign with args offline (see the package doc) and returns what
// it printed. err is non-nil when cosign failed or tried the network.
func Run(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd, trip := command(t, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if hosts := trip.hosts(); len(hosts) > 0 {
		err = errors.Join(err, fmt.Errorf("cosign %s tried the network: %s", args[0], strings.Join(hosts, ", ")))
	}
	if err != nil {
		err = fmt.Errorf("running cosign %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), err
}

// Command is cosign with args, set up as Run sets it up, for a test that
// wants its own stdin or extra environment. The test fails at cleanup if
// cosign tried the network.
func Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd, trip := command(t, args...)
	t.Cleanup(func() {
		if hosts := trip.hosts(); len(hosts) > 0 {
			t.Errorf("cosign %s tried the network: %s", args[0], strings.Join(hosts, ", "))
		}
	})
	return cmd
}

func command(t testing.TB, args ...string) (*exec.Cmd, *tripwire) {
	t.Helper()
	if len(args) == 0 {
		t.Fatal("cosigntest: no cosign subcommand")
	}
	bin := Binary(t)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	t.Cleanup(cancel)
	trip := newTripwire(t)
	home := t.TempDir()

	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(),
		"HOME="+home,
		"TUF_ROOT="+filepath.Join(home, ".sigstore", "root"),
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"COSIGN_PASSWORD="+Password,
		"HTTP_PROXY="+trip.url, "HTTPS_PROXY="+trip.url,
		"http_proxy="+trip.url, "https_proxy="+trip.url,
		"NO_PROXY=", "no_proxy=",
	)
	return cmd, trip
}

// cleanEnv is the environment without what could point cosign at other
// keys, caches, credentials or the network.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "COSIGN_"), strings.HasPrefix(k, "SIGSTORE_"),
			strings.HasSuffix(strings.ToUpper(k), "_PROXY"),
			k == "HOME", k == "TUF_ROOT", k == "DOCKER_CONFIG", strings.HasPrefix(k, "XDG_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tripwire is an HTTP proxy that refuses every request and remembers
// where it was asked to go.
type tripwire struct {
	url string
	mu  sync.Mutex
	got []string
}

func newTripwire(t testing.TB) *tripwire {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the network tripwire: %v", err)
	}
	w := &tripwire{url: "http://" + l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			// Recorded before the refusal, so it is there when cosign exits.
			w.mu.Lock()
			w.got = append(w.got, strings.TrimSpace(line))
			w.mu.Unlock()
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return w
}

func (w *tripwire) hosts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}
