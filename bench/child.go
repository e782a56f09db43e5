package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// server is a server process the harness started and measures: shipgate
// or a peer.
type server struct {
	name string // "shipgate", "opa"
	cmd  *exec.Cmd
	// base is https://127.0.0.1:PORT.
	base string
	// paths maps a request's webhook ("mutate", "validate") to the path
	// it is sent to.
	paths map[string]string
	// roots trusts the server's certificate.
	roots *x509.CertPool
	log   string // the file its stderr and stdout go to
	done  chan error
	// uid counts the requests sent to the server over the whole run, for
	// their uids: the API server gives every AdmissionRequest its own, and
	// shipgate records a uid it has seen once only, so a uid sent again
	// would measure a lookup in place of a durable append.
	uid atomic.Uint64
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// url is where a request for webhook goes.
func (s *server) url(webhook string) string { return s.base + s.paths[webhook] }

// start runs bin with args, its output to logFile.
func startServer(name, bin string, args []string, logFile string) (*server, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, log: logFile, done: make(chan error, 1)}
	go func() {
		s.done <- cmd.Wait()
		f.Close()
	}()
	return s, nil
}

// waitReady polls url (a health path) until it answers 200.
func (s *server) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return fmt.Errorf("%s exited before it was ready: %v; its log:\n%s", s.name, err, tail(s.log, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := c.Get(url)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("%s: %s", url, resp.Status)
	}
	return fmt.Errorf("%s not ready within %s: %v; its log:\n%s", s.name, timeout, last, tail(s.log, 20))
}

// stop ends the process with SIGTERM, then SIGKILL after grace.
func (s *server) stop(grace time.Duration) {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort is a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// moduleRoot is the directory of this module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("running go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness inside the shipgate module")
	}
	return filepath.Dir(mod), nil
}

// moduleVersion is the version of module this module requires.
func moduleVersion(root, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("finding the version of %s: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// goInstall builds pkg@version into dir (outside this module's build
// list, with the module's own go.mod, as `go install` does) unless
// dir/name is there already.
func goInstall(dir, name, pkg, version string) (string, error) {
	bin := filepath.Join(dir, name)
	stamp := bin + ".version"
	if b, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(b)) == pkg+"@"+version {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "bench: building %s@%s (once; kept in %s)\n", pkg, version, dir)
	cmd := exec.Command("go", "install", pkg+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s@%s: %w", pkg, version, err)
	}
	return bin, os.WriteFile(stamp, []byte(pkg+"@"+version+"\n"), 0o644)
}
