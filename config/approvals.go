package config

import (
	"net/url"
	"slices"
	"time"
)

// Approvals configures what approval requests do besides wait for votes.
// The rules themselves (how many approvers, groups, expiry) are each
// namespace binding's approval.
type Approvals struct {
	// Notify are webhook receivers POSTed a JSON event when a request is
	// created, approved, rejected or expires. The body's "text" field makes
	// it a Slack incoming-webhook message as it is.
	Notify []NotifyTarget `yaml:"notify,omitempty" json:"notify,omitempty"`
	// SweepInterval is how often lapsed requests are expired (and their
	// "expired" event recorded and notified) when nobody asks about them,
	// and failed audit appends of approval events retried. Default 30s; at
	// least 1s. Read when serve starts: a reload does not change it.
	SweepInterval Duration `yaml:"sweepInterval,omitempty" json:"sweepInterval,omitempty"`
}

// MinSweepInterval keeps the approval sweep, a write transaction on the
// store, from running more than once a second.
const MinSweepInterval = time.Second

// NotifyTarget is one receiver of approval events.
type NotifyTarget struct {
	// URL is an http:// or https:// URL. It may hold a secret (a Slack
	// webhook's does), so messages never print it.
	URL string `yaml:"url" json:"url"`
	// Events limits what is sent: created, approved, rejected, expired.
	// Default all four.
	Events []string `yaml:"events,omitempty" json:"events,omitempty"`
}

// NotifyEvents are the events a receiver can be sent.
var NotifyEvents = []string{"created", "approved", "rejected", "expired"}

// approvals checks the notification receivers without echoing a URL.
func (v *validator) approvals(a Approvals) {
	if a.SweepInterval.Duration != 0 && a.SweepInterval.Duration < MinSweepInterval {
		v.add("approvals.sweepInterval", "must be at least %s, got %s", MinSweepInterval, a.SweepInterval.Duration)
	}
	seen := map[string]int{}
	for i, t := range a.Notify {
		p := index("approvals.notify", i)
		u, err := url.Parse(t.URL)
		switch {
		case t.URL == "":
			v.add(p+".url", "must not be empty")
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			v.add(p+".url", "must be an absolute http:// or https:// URL")
		case seen[t.URL] > 0:
			v.add(p+".url", "repeats approvals.notify[%d].url", seen[t.URL]-1)
		}
		seen[t.URL] = i + 1
		for j, e := range t.Events {
			if !slices.Contains(NotifyEvents, e) {
				v.add(index(p+".events", j), "unknown event %q: must be one of created, approved, rejected, expired", e)
			}
		}
	}
}
