package audit_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// The child side of the crash tests: when the test binary is started with
// these variables, TestMain-less, TestCrashChild appends from 16 writers
// until it is killed, printing "ack <uid>" once each append is durable.
const (
	envCrashURL    = "SHIPGATE_CRASH_STORE"
	envCrashPrefix = "SHIPGATE_CRASH_PREFIX"
)

func TestCrashChild(t *testing.T) {
	url := os.Getenv(envCrashURL)
	if url == "" {
		return // only ever run as a child of TestCrashSafety
	}
	ctx := context.Background()
	db, err := store.Open(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	l, err := audit.New(db)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	prefix := os.Getenv(envCrashPrefix)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				r := sample(i)
				r.RequestUID = fmt.Sprintf("%s-%d-%d", prefix, w, i)
				if _, err := l.Append(ctx, r); err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintln(out, "ack", r.RequestUID)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// crashChild starts the test binary appending to url and returns it with
// the uids it acknowledges.
func crashChild(t *testing.T, url, prefix string) (*exec.Cmd, func() []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashURL+"="+url, envCrashPrefix+"="+prefix)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if uid, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				mu.Lock()
				acked = append(acked, uid)
				mu.Unlock()
			}
		}
	}()
	// Wait until the child is appending (starting a test binary under the
	// race detector on a busy machine takes a while), so the kill lands
	// mid-load whatever the machine's speed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child acknowledged %d appends in 60 s; stderr: %s", n, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, func() []string {
		<-done
		if s := stderr.String(); strings.Contains(s, "child") {
			t.Errorf("the child failed: %s", s)
		}
		return acked
	}
}

// TestCrashSafety kills appending processes with SIGKILL at random points,
// restarts, and checks that every acknowledged append is there and the log
// verifies; on PostgreSQL two processes append to one log at once.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(envCrashURL) != "" {
		return
	}
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			url := storetest.URL(t, d)
			processes := 1
			if d == store.Postgres {
				processes = 2 // two gateway replicas sharing one log
			}
			var all []string
			for round := range 3 {
				var waits []func() []string
				var cmds []*exec.Cmd
				for p := range processes {
					cmd, wait := crashChild(t, url, fmt.Sprintf("r%d-p%d", round, p))
					cmds, waits = append(cmds, cmd), append(waits, wait)
				}
				time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
				for _, cmd := range cmds {
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
				}
				for i, cmd := range cmds {
					cmd.Wait()
					acked := waits[i]()
					if len(acked) == 0 {
						t.Fatalf("round %d: process %d acknowledged nothing before it was killed", round, i)
					}
					all = append(all, acked...)
				}
			}
			ctx := t.Context()
			db, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rep, err := audit.Verify(ctx, db, nil, audit.VerifyOptions{})
			if err != nil {
				t.Fatalf("the log does not verify after the crashes: %v", err)
			}
			present := map[string]bool{}
			rows, err := db.SQL().QueryContext(ctx, "SELECT request_uid FROM audit_log")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var uid string
				if err := rows.Scan(&uid); err != nil {
					t.Fatal(err)
				}
				present[uid] = true
			}
			missing := 0
			for _, uid := range all {
				if !present[uid] {
					missing++
				}
			}
			if missing > 0 {
				t.Errorf("%d of %d acknowledged appends are missing after SIGKILL", missing, len(all))
			}
			t.Logf("%s: %d acknowledged appends across 3 kills, %d records, all present; log verifies", d, len(all), rep.Size)
		})
	}
}
