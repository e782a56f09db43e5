package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Server is a PostgreSQL server of a test's own, for tests that stop and
// start it (a database restarted under load) without disturbing the
// server every other test shares.
type Server struct {
	URL  string
	bin  string
	data string
	dir  string
	port int
}

// NewServer initialises and starts a PostgreSQL server on loopback with
// the binaries scripts/with-postgres.sh found ($SHIPGATE_TEST_POSTGRES_BIN).
// It fails the test when there are none; it is stopped at cleanup.
func NewServer(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("SHIPGATE_TEST_POSTGRES_BIN")
	if bin == "" {
		t.Fatal("SHIPGATE_TEST_POSTGRES_BIN is not set: this test starts its own PostgreSQL server; run it with make test, or scripts/with-postgres.sh go test ./...")
	}
	dir, err := os.MkdirTemp("", "shipgate-pg-own.")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	t.Cleanup(func() {
		s.run("pg_ctl", "-D", s.data, "-m", "immediate", "stop")
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v: %s", err, out)
		}
	}
	if out, err := s.run("initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	// A port another process took between the probe and the start is
	// given up for another one.
	var startErr error
	for range 3 {
		if s.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if startErr = s.start(); startErr == nil {
			break
		}
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	if out, err := s.run("createdb", "-h", "127.0.0.1", "-p", fmt.Sprint(s.port), "-U", "postgres", "shipgate_test"); err != nil {
		t.Fatalf("createdb: %v: %s", err, out)
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/shipgate_test?sslmode=disable", s.port)
	return s
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// start starts the server on s.port; its error carries the end of the
// server's log, which says why it did not start.
func (s *Server) start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=on", s.port, s.dir)
	logFile := filepath.Join(s.dir, "log")
	out, err := s.run("pg_ctl", "-D", s.data, "-l", logFile, "-w", "-t", "60", "-o", opts, "start")
	if err == nil {
		return nil
	}
	log, _ := os.ReadFile(logFile)
	if len(log) > 2000 {
		log = log[len(log)-2000:]
	}
	return fmt.Errorf("starting PostgreSQL on port %d: %v: %s\nserver log (end):\n%s", s.port, err, out, log)
}

// freePort is a loopback port nothing listens on, below the kernel's
// ephemeral range (32768 and up by default), so no client connection is
// given it meanwhile.
func freePort() (int, error) {
	for range 100 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port found in 20000–31999")
}

// Stop stops the server at once (connections are cut).
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data, "-m", "fast", "-w", "stop"); err != nil {
		t.Fatalf("stopping PostgreSQL: %v: %s", err, out)
	}
}

// run runs a PostgreSQL program, as the postgres user when root.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, prog)
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postgres", "--", path}, args...)
		return exec.Command("runuser", args...).CombinedOutput()
	}
	return exec.Command(path, args...).CombinedOutput()
}
