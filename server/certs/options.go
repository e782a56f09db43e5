package certs

import (
	"crypto/x509"
	"time"
)

// defaultPollInterval is how often Run rereads the files whatever the watcher
// says: a missed or unsupported event then delays a rotation by at most 10s,
// and reading two small files that often costs nothing.
const defaultPollInterval = 10 * time.Second

// Option configures a Reloader.
type Option func(*options)

// options holds what the Options set; defaultOptions gives its defaults.
type options struct {
	onError      func(error)
	onReload     func(*x509.Certificate)
	pollInterval time.Duration
}

// defaultOptions returns the options of a Reloader given none: callbacks that
// do nothing and a poll every defaultPollInterval.
func defaultOptions() options {
	return options{
		onError:      func(error) {},
		onReload:     func(*x509.Certificate) {},
		pollInterval: defaultPollInterval,
	}
}

// WithOnError sets the function Run calls when new files cannot be read or
// do not form a valid pair (the current pair keeps being served), or when
// the watcher fails. It runs on Run's goroutine and should return quickly.
// A nil f is ignored.
func WithOnError(f func(error)) Option {
	return func(o *options) {
		if f != nil {
			o.onError = f
		}
	}
}

// WithOnReload sets the function Run calls with the new leaf certificate
// after it starts serving a new pair. It runs on Run's goroutine and should
// return quickly. A nil f is ignored.
func WithOnReload(f func(*x509.Certificate)) Option {
	return func(o *options) {
		if f != nil {
			o.onReload = f
		}
	}
}

// WithPollInterval sets how often Run rereads the files in addition to
// watching them (default 10s). A zero or negative d turns polling off.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) { o.pollInterval = d }
}
