package config

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher keeps the config file's last good version and reloads it when the
// file changes: a valid change replaces it, an invalid one is reported and
// the last good config stays.
type Watcher struct {
	path     string
	current  atomic.Pointer[GatewayConfig]
	running  atomic.Bool
	onChange func(old, new *GatewayConfig)
	onError  func(error)
	poll     time.Duration
	debounce time.Duration

	// seen is the hash of the last content looked at, valid or not (or of
	// the last read error), so a bad file is reported once, not on every
	// poll. Only Run's goroutine touches it after NewWatcher.
	seen [sha256.Size]byte
}

// WatchOption configures a Watcher.
type WatchOption func(*Watcher)

// WithOnChange is called, on Run's goroutine, after a changed valid config
// has replaced old. A change that leaves the Revision equal (comments,
// layout) replaces nothing and calls nothing.
func WithOnChange(f func(old, new *GatewayConfig)) WatchOption {
	return func(w *Watcher) { w.onChange = f }
}

// WithOnError is called, on Run's goroutine, when a changed file cannot be
// read or is invalid (the last good config stays), and once if the
// directory cannot be watched (Run then polls alone). A config error is an
// ErrorList whose entries read FILE:LINE: message.
func WithOnError(f func(error)) WatchOption {
	return func(w *Watcher) { w.onError = f }
}

// WithPollInterval sets how often the file's content is compared with the
// last seen, in case a change notification is missed (a file reached
// through a symlink into another directory, a network file system). The
// default is DefaultPollInterval; zero or less turns polling off.
func WithPollInterval(d time.Duration) WatchOption {
	return func(w *Watcher) { w.poll = d }
}

const (
	// DefaultPollInterval is how often a Watcher compares the file's
	// content when notifications say nothing: reading a few kilobytes every
	// few seconds costs nothing, and bounds how late a missed change is seen.
	DefaultPollInterval = 5 * time.Second
	// debounceDelay gathers the bursts of events one save makes (an editor's
	// write-rename-chmod, the kubelet's five-step ConfigMap swap) into one
	// reload, and keeps a half-written file from being read.
	debounceDelay = 100 * time.Millisecond
)

// NewWatcher loads the config at path, which must be valid, and returns a
// Watcher serving it. Call Run to follow changes.
func NewWatcher(path string, opts ...WatchOption) (*Watcher, error) {
	w := &Watcher{
		path:     path,
		onChange: func(_, _ *GatewayConfig) {},
		onError:  func(error) {},
		poll:     DefaultPollInterval,
		debounce: debounceDelay,
	}
	for _, o := range opts {
		o(w)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	w.current.Store(c)
	w.seen = sha256.Sum256(data)
	return w, nil
}

// Current returns the last good config. It never blocks; the config is
// shared, read only.
func (w *Watcher) Current() *GatewayConfig { return w.current.Load() }

// Run follows the file until ctx ends, then returns nil. It watches the
// file's directory, not the file, so that a Kubernetes ConfigMap volume's
// atomic "..data" symlink swap and an editor's rename over the file are
// seen; every event in the directory leads, after a short debounce, to
// comparing the file's content with the last seen. It polls as well, see
// WithPollInterval; if the directory cannot be watched it reports that
// through OnError and polls alone. Run may be called once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("running config watcher: already running")
	}
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	poll := w.poll
	dir := filepath.Dir(w.path)
	if fw, err := watchDir(dir); err != nil {
		if poll <= 0 {
			// Polling was turned off trusting notifications; without them
			// it is the only way to see a change.
			poll = DefaultPollInterval
		}
		w.onError(fmt.Errorf("watching %s, polling every %s instead: %w", dir, poll, err))
	} else {
		defer fw.Close()
		events, watchErrs = fw.Events, fw.Errors
	}
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	debounce := time.NewTimer(w.debounce)
	defer debounce.Stop()
	// The first check, after one debounce, catches changes made between
	// NewWatcher and Run.
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Op != fsnotify.Chmod {
				debounce.Reset(w.debounce)
			}
		case _, ok := <-watchErrs:
			// An overflow or a lost watch: events may have been missed,
			// so look now. Polling covers the rest.
			if !ok {
				watchErrs = nil
				continue
			}
			debounce.Reset(w.debounce)
		case <-debounce.C:
			w.check(ctx)
		case <-tick:
			w.check(ctx)
		}
	}
}

// watchDir starts an fsnotify watch on dir.
func watchDir(dir string) (*fsnotify.Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := fw.Add(dir); err != nil {
		fw.Close()
		return nil, err
	}
	return fw, nil
}

// settleTries bounds how often check looks again at a file that reads as
// invalid, in case it was caught half written.
const settleTries = 3

// check reloads the file if its content differs from the last seen. A file
// rewritten in place can be read between truncation and write; so an
// unreadable or invalid content is read again after the debounce delay and
// reported only if it has not changed meanwhile.
func (w *Watcher) check(ctx context.Context) {
	var prev [sha256.Size]byte
	for try := 1; ; try++ {
		data, readErr := os.ReadFile(w.path)
		sum := sha256.Sum256(data)
		if readErr != nil {
			sum = sha256.Sum256([]byte("\x00read error\x00" + readErr.Error()))
		}
		if sum == w.seen {
			return
		}
		var c *GatewayConfig
		err := readErr
		if err != nil {
			err = fmt.Errorf("reading config: %w", err)
		} else {
			c, err = Parse(w.path, data)
		}
		if err != nil && sum != prev && try < settleTries {
			prev = sum
			select {
			case <-ctx.Done():
				return
			case <-time.After(w.debounce):
			}
			continue
		}
		w.seen = sum
		if err != nil {
			w.onError(err)
			return
		}
		old := w.current.Load()
		if c.Revision() == old.Revision() {
			return
		}
		w.current.Store(c)
		w.onChange(old, c)
		return
	}
}
