package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewWatcherRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: block}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := NewWatcher(path)
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 {
		t.Errorf("NewWatcher error = %v, want an *Error on line 3", err)
	}
}

// TestWatcherCheck drives one check at a time, without Run.
func TestWatcherCheck(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, configWithMode(ModeEnforce), 0o644); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	w, err := NewWatcher(path, rec.options()...)
	if err != nil {
		t.Fatal(err)
	}
	w.debounce = time.Millisecond
	steps := []struct {
		what    string
		content []byte
		changes int
		errs    int
		mode    Mode
	}{
		{"unchanged content", configWithMode(ModeEnforce), 0, 0, ModeEnforce},
		{"a comment only: same revision, no OnChange", append([]byte("# hi\n"), configWithMode(ModeEnforce)...), 0, 0, ModeEnforce},
		{"invalid", []byte("kind: GatewayConfig\n"), 0, 1, ModeEnforce},
		{"the same invalid content is reported once", []byte("kind: GatewayConfig\n"), 0, 1, ModeEnforce},
		{"back to the good config: nothing new", configWithMode(ModeEnforce), 0, 1, ModeEnforce},
		{"a real change", configWithMode(ModeAudit), 1, 1, ModeAudit},
	}
	for _, s := range steps {
		if err := os.WriteFile(path, s.content, 0o644); err != nil {
			t.Fatal(err)
		}
		w.check(t.Context())
		changes, errs := rec.snapshot()
		if len(changes) != s.changes || len(errs) != s.errs || w.Current().Defaults.Mode != s.mode {
			t.Fatalf("%s: %d changes, %d errors, mode %q; want %d, %d, %q",
				s.what, len(changes), len(errs), w.Current().Defaults.Mode, s.changes, s.errs, s.mode)
		}
	}
}

// TestWatcherCheckHalfWritten: a file caught between truncation and write
// is looked at again before anything is reported.
func TestWatcherCheckHalfWritten(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, configWithMode(ModeEnforce), 0o644); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	w, err := NewWatcher(path, rec.options()...)
	if err != nil {
		t.Fatal(err)
	}
	w.debounce = 300 * time.Millisecond
	if err := os.WriteFile(path, nil, 0o644); err != nil { // truncated
		t.Fatal(err)
	}
	written := make(chan error, 1)
	go func() { written <- os.WriteFile(path, configWithMode(ModeWarn), 0o644) }()
	w.check(t.Context())
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	changes, errs := rec.snapshot()
	if len(errs) != 0 || len(changes) != 1 || w.Current().Defaults.Mode != ModeWarn {
		t.Errorf("changes %v errors %v mode %q, want the written config and no error", changes, errs, w.Current().Defaults.Mode)
	}
}

func TestWatcherReportsAMissingFileOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, configWithMode(ModeEnforce), 0o644); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	w := startWatcher(t, path, append(rec.options(), WithPollInterval(10*time.Millisecond))...)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "OnError", func() bool { _, errs := rec.snapshot(); return len(errs) > 0 })
	time.Sleep(100 * time.Millisecond) // ten more polls
	_, errs := rec.snapshot()
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) || !strings.HasPrefix(errs[0].Error(), "reading config: ") {
		t.Errorf("errors %v, want one reading config: … not exist", errs)
	}
	if w.Current().Defaults.Mode != ModeEnforce {
		t.Errorf("a missing file dropped the last good config")
	}
}
