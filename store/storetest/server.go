package storetest

import (
	"fmt"
	"math/rand/v2"
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
	s := &Server{bin: bin, dir: dir, data: filepath.Join(dir, "data"), port: 40000 + rand.IntN(20000)}
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
	s.Start(t)
	if out, err := s.run("createdb", "-h", "127.0.0.1", "-p", fmt.Sprint(s.port), "-U", "postgres", "shipgate_test"); err != nil {
		t.Fatalf("createdb: %v: %s", err, out)
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/shipgate_test?sslmode=disable", s.port)
	return s
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=on", s.port, s.dir)
	if out, err := s.run("pg_ctl", "-D", s.data, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		t.Fatalf("starting PostgreSQL: %v: %s", err, out)
	}
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
