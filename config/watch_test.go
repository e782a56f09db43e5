package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// configWithMode is a valid config whose defaults have mode m.
func configWithMode(m Mode) []byte {
	return fmt.Appendf(nil, "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults:\n  mode: %s\n", m)
}

// recorder collects a Watcher's callbacks.
type recorder struct {
	mu      sync.Mutex
	changes [][2]Mode // old and new defaults.mode
	errs    []error
}

func (r *recorder) options() []WatchOption {
	return []WatchOption{
		WithOnChange(func(old, new *GatewayConfig) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.changes = append(r.changes, [2]Mode{old.Defaults.Mode, new.Defaults.Mode})
		}),
		WithOnError(func(err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.errs = append(r.errs, err)
		}),
	}
}

// changed says whether OnChange has been called n times or more. Run
// calls it after Current has the new config, so a test that saw the new
// config waits for this before it counts the calls.
func (r *recorder) changed(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.changes) >= n
}

func (r *recorder) snapshot() ([][2]Mode, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][2]Mode(nil), r.changes...), append([]error(nil), r.errs...)
}

// startWatcher creates and runs a Watcher on path until the test ends.
func startWatcher(t *testing.T, path string, opts ...WatchOption) *Watcher {
	t.Helper()
	w, err := NewWatcher(path, opts...)
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil on cancel", err)
		}
	})
	// Let Run set up its watch before the test changes files.
	time.Sleep(50 * time.Millisecond)
	return w
}

// eventually polls cond for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeAtomically writes a file the way editors and kubectl cp do: a temp
// file renamed over the old one.
func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatcher(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		write func(t *testing.T, path string, data []byte)
	}{
		"a file rewritten in place": {
			write: func(t *testing.T, path string, data []byte) {
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		"a file renamed over": {write: writeAtomically},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "gateway.yaml")
			if err := os.WriteFile(path, configWithMode(ModeEnforce), 0o644); err != nil {
				t.Fatal(err)
			}
			var rec recorder
			// Polling off: the change must come through fsnotify.
			w := startWatcher(t, path, append(rec.options(), WithPollInterval(0))...)
			if got := w.Current().Defaults.Mode; got != ModeEnforce {
				t.Fatalf("initial mode %q", got)
			}

			tt.write(t, path, configWithMode(ModeWarn))
			eventually(t, "the valid change", func() bool { return w.Current().Defaults.Mode == ModeWarn && rec.changed(1) })
			changes, errs := rec.snapshot()
			if len(changes) != 1 || changes[0] != [2]Mode{ModeEnforce, ModeWarn} || len(errs) != 0 {
				t.Fatalf("after a valid change: changes %v errors %v, want one enforce→warn", changes, errs)
			}

			tt.write(t, path, []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults:\n  mode: block\n"))
			eventually(t, "OnError", func() bool { _, errs := rec.snapshot(); return len(errs) > 0 })
			_, errs = rec.snapshot()
			want := path + `:4: defaults.mode: must be one of enforce, warn, audit, got "block"`
			if errs[0].Error() != want {
				t.Errorf("OnError got %q, want %q", errs[0], want)
			}
			if got := w.Current().Defaults.Mode; got != ModeWarn {
				t.Errorf("after an invalid change the mode is %q, want the last good warn", got)
			}

			tt.write(t, path, configWithMode(ModeAudit))
			eventually(t, "the next valid change", func() bool { return w.Current().Defaults.Mode == ModeAudit && rec.changed(2) })
			changes, errs = rec.snapshot()
			if len(changes) != 2 || changes[1] != [2]Mode{ModeWarn, ModeAudit} || len(errs) != 1 {
				t.Errorf("changes %v errors %v, want enforce→warn, warn→audit and the one error", changes, errs)
			}
		})
	}
}

// TestWatcherConfigMapSwap replays what the kubelet does to a ConfigMap
// volume: the file is a symlink through "..data", itself a symlink to a
// timestamped directory, and an update swaps "..data" atomically.
func TestWatcherConfigMapSwap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	version := func(name string, data []byte) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "gateway.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_01_01_00_00_00.1", configWithMode(ModeEnforce))
	mustSymlink(t, "..2026_01_01_00_00_00.1", filepath.Join(dir, "..data"))
	mustSymlink(t, "..data/gateway.yaml", filepath.Join(dir, "gateway.yaml"))

	var rec recorder
	w := startWatcher(t, filepath.Join(dir, "gateway.yaml"), append(rec.options(), WithPollInterval(0))...)

	version("..2026_01_01_00_01_00.2", configWithMode(ModeAudit))
	mustSymlink(t, "..2026_01_01_00_01_00.2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the swapped config", func() bool { return w.Current().Defaults.Mode == ModeAudit && rec.changed(1) })
	if changes, errs := rec.snapshot(); len(changes) != 1 || len(errs) != 0 {
		t.Errorf("changes %v errors %v, want exactly one change", changes, errs)
	}
}

// TestWatcherPolls covers a change no directory event reports: the config
// is a symlink to a file in another directory, edited in place.
func TestWatcherPolls(t *testing.T) {
	t.Parallel()
	target := filepath.Join(t.TempDir(), "real.yaml")
	if err := os.WriteFile(target, configWithMode(ModeEnforce), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	mustSymlink(t, target, path)
	w := startWatcher(t, path, WithPollInterval(20*time.Millisecond))
	if err := os.WriteFile(target, configWithMode(ModeWarn), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the polled change", func() bool { return w.Current().Defaults.Mode == ModeWarn })
}

// TestWatcherPollsWhenItCannotWatch removes the directory before Run, so
// the watch cannot be set up: Run must say so and poll.
func TestWatcherPollsWhenItCannotWatch(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "etc")
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, configWithMode(ModeEnforce), 0o644); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	w, err := NewWatcher(path, append(rec.options(), WithPollInterval(20*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go w.Run(ctx)
	eventually(t, "OnError", func() bool { _, errs := rec.snapshot(); return len(errs) > 0 })
	if _, errs := rec.snapshot(); !strings.HasPrefix(errs[0].Error(), "watching "+dir+", polling every 20ms instead: ") {
		t.Errorf("first error %q, want it to say it polls instead", errs[0])
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, configWithMode(ModeAudit), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the polled change", func() bool { return w.Current().Defaults.Mode == ModeAudit })
}

func TestWatcherRunTwice(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, configWithMode(ModeEnforce), 0o644); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, path)
	if err := w.Run(t.Context()); err == nil {
		t.Errorf("a second Run returned nil, want an error")
	}
}

// TestWatcherCurrentRace reads Current while the file keeps changing; run
// with -race.
func TestWatcherCurrentRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, configWithMode(ModeEnforce), 0o644); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, path, WithPollInterval(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				c := w.Current()
				if r := c.Resolve("payments", nil); r.Binding.Mode != c.Defaults.Mode {
					t.Errorf("Resolve saw mode %q in a config whose defaults are %q", r.Binding.Mode, c.Defaults.Mode)
					return
				}
			}
		})
	}
	modes := []Mode{ModeWarn, ModeAudit, ModeEnforce}
	for i := 0; ctx.Err() == nil; i++ {
		writeAtomically(t, path, configWithMode(modes[i%3]))
		time.Sleep(15 * time.Millisecond)
	}
	wg.Wait()
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
