package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// leases is what the elector needs of the API server: the Lease named in
// namespace.
type leases interface {
	// getLease fails with apierrors.IsNotFound when the Lease is absent.
	getLease(ctx context.Context, namespace, name string) (*coordinationv1.Lease, error)
	// createLease fails with apierrors.IsAlreadyExists when another
	// replica created it first.
	createLease(ctx context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error)
	// updateLease fails with apierrors.IsConflict when l.ResourceVersion
	// is not the Lease's.
	updateLease(ctx context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error)
}

// releaseTimeout bounds the release of the Lease when run's context has
// ended: long enough for two round trips to a slow API server, short
// enough not to hold up a Pod's termination grace period (30s).
const releaseTimeout = 5 * time.Second

// errTaken is a renewal that found the Lease held by someone else, or gone.
var errTaken = errors.New("the Lease is no longer ours")

// elector stands for one Lease, as client-go's leaderelection does, and
// runs onStartedLeading while it holds it. Like client-go it only trusts
// its own clock: a holder's renewTime is never compared with it, only
// watched for change. It does not fence: a leader that stalls for longer
// than leaseDuration may briefly overlap the next one. run is called once.
type elector struct {
	client                    leases
	namespace, name, identity string
	// leaseDuration is how long a candidate waits, after it last saw the
	// Lease change, before it takes the Lease over; renewDeadline is how
	// long the leader keeps trying to renew before it gives up (measured
	// from the start of its last successful renewal, so it gives up
	// before any candidate may take over); retryPeriod is the wait
	// between tries.
	leaseDuration, renewDeadline, retryPeriod time.Duration
	// now is the clock; nil means time.Now.
	now func() time.Time
	// onStartedLeading runs in its own goroutine while this replica
	// leads; ctx ends when it stops leading, and run does not stand again
	// (or return) until it has returned.
	onStartedLeading func(ctx context.Context)
	// onNewLeader, if set, is called from run's goroutine (so it must not
	// block) each time the Lease is seen with a new holder, this replica
	// included; "" is a released Lease.
	onNewLeader func(identity string)
	// log, if set, receives acquisitions, losses and API errors.
	log *slog.Logger

	// What run last saw of the Lease; only run's goroutine uses these.
	seen     *coordinationv1.Lease // as read or written, for its resourceVersion
	seenRec  record                // its spec, to notice a change
	seenAt   time.Time             // when seenRec was first seen, by e.now
	reported string                // the holder last passed to onNewLeader
}

// record is what the elector reads of a Lease's spec, with nil fields
// (possible in a hand-edited Lease) as zero values; times are in
// microseconds, a MicroTime's precision, so that == compares records.
type record struct {
	holder         string
	duration       time.Duration
	transitions    int32
	acquire, renew int64
}

func recordOf(l *coordinationv1.Lease) record {
	var r record
	s := l.Spec
	if s.HolderIdentity != nil {
		r.holder = *s.HolderIdentity
	}
	if s.LeaseDurationSeconds != nil {
		r.duration = time.Duration(*s.LeaseDurationSeconds) * time.Second
	}
	if s.LeaseTransitions != nil {
		r.transitions = *s.LeaseTransitions
	}
	if s.AcquireTime != nil {
		r.acquire = s.AcquireTime.UnixMicro()
	}
	if s.RenewTime != nil {
		r.renew = s.RenewTime.UnixMicro()
	}
	return r
}

// validate applies client-go's rules, without its jitter factor (only
// standing for the Lease is jittered here, never renewing it).
func (e *elector) validate() error {
	switch {
	case e.client == nil || e.identity == "" || e.onStartedLeading == nil:
		return errors.New("an elector needs a client, an identity and onStartedLeading")
	case e.retryPeriod <= 0:
		return fmt.Errorf("retry period %v is not positive", e.retryPeriod)
	case e.leaseDuration <= e.renewDeadline:
		return fmt.Errorf("lease duration %v must be longer than the renew deadline %v", e.leaseDuration, e.renewDeadline)
	case e.renewDeadline <= e.retryPeriod:
		return fmt.Errorf("renew deadline %v must be longer than the retry period %v", e.renewDeadline, e.retryPeriod)
	}
	return nil
}

// run stands for the Lease until ctx ends, leads while it holds it, and
// stands again when it loses it. When ctx ends while leading it waits for
// onStartedLeading to return and then releases the Lease, so the next
// leader starts at once and after this one has stopped. It returns at
// once, logging why, when the timings are wrong.
func (e *elector) run(ctx context.Context) {
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("lease", e.namespace+"/"+e.name, "identity", e.identity)
	if e.now == nil {
		e.now = time.Now
	}
	if err := e.validate(); err != nil {
		e.log.Error("not standing for the lease", "error", err.Error())
		return
	}
	for {
		start := e.now()
		if e.tryAcquire(ctx) {
			e.log.Info("acquired the lease")
			e.lead(ctx, start)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		// Up to 20% jitter, so that replicas started together do not keep
		// asking at the same instant.
		if !sleep(ctx, e.retryPeriod+rand.N(e.retryPeriod/5+1)) {
			return
		}
	}
}

// lead runs onStartedLeading while renewals succeed, and until it returns;
// acquired is when the write that took the Lease was begun.
func (e *elector) lead(ctx context.Context, acquired time.Time) {
	leadCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.onStartedLeading(leadCtx)
	}()
	err := e.hold(ctx, acquired)
	cancel()
	if err != nil {
		e.log.Warn("lost the lease", "error", err.Error())
	}
	<-done
	if ctx.Err() != nil {
		e.release()
	}
}

// hold renews the Lease every retryPeriod. It returns nil when ctx ends,
// and an error when the Lease was taken or could not be renewed within
// renewDeadline of the start of the last write that did renew it: that
// write's renewTime reached the API server no earlier, so candidates wait
// leaseDuration from a later instant.
func (e *elector) hold(ctx context.Context, renewed time.Time) error {
	for sleep(ctx, e.retryPeriod) {
		deadline := renewed.Add(e.renewDeadline)
		for {
			start := e.now()
			left := deadline.Sub(start)
			if left <= 0 {
				return fmt.Errorf("not renewed within %v", e.renewDeadline)
			}
			err := e.renew(ctx, left)
			if err == nil {
				renewed = start
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, errTaken) {
				return err
			}
			e.log.Warn("renewing the lease; will retry", "error", err.Error())
			if !sleep(ctx, min(e.retryPeriod, deadline.Sub(e.now()))) {
				return nil
			}
		}
	}
	return nil
}

// tryAcquire reads the Lease and takes it when it is absent, released,
// ours, or unchanged for leaseDuration (or the longer duration the
// holder declared), within renewDeadline. It reports whether this replica
// now holds it.
func (e *elector) tryAcquire(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, e.renewDeadline) // an API server that hangs
	defer cancel()
	l, err := e.client.getLease(ctx, e.namespace, e.name)
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespace, Name: e.name}}
		e.claim(l, true)
		created, err := e.client.createLease(ctx, l)
		if err != nil {
			e.logAPI(ctx, "creating the lease", err)
			return false
		}
		e.observe(created)
		return true
	}
	if err != nil {
		e.logAPI(ctx, "reading the lease", err)
		return false
	}
	e.observe(l)
	r := e.seenRec
	if r.holder != "" && r.holder != e.identity && e.now().Before(e.seenAt.Add(max(e.leaseDuration, r.duration))) {
		return false
	}
	l = l.DeepCopy()
	e.claim(l, r.holder != e.identity)
	updated, err := e.client.updateLease(ctx, l)
	if err != nil {
		e.logAPI(ctx, "taking the lease", err)
		return false
	}
	e.observe(updated)
	return true
}

// renew writes a new renewTime onto the Lease, first onto the version
// last seen and, when that is stale, onto the API server's if it is
// still ours. An error wraps errTaken when it is not.
func (e *elector) renew(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	l := e.seen.DeepCopy()
	e.claim(l, false)
	updated, err := e.client.updateLease(ctx, l)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		if l, err = e.client.getLease(ctx, e.namespace, e.name); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("%w: deleted", errTaken)
			}
			return fmt.Errorf("reading the lease: %w", err)
		}
		e.observe(l)
		if h := e.seenRec.holder; h != e.identity {
			return fmt.Errorf("%w: held by %q", errTaken, h)
		}
		l = l.DeepCopy()
		e.claim(l, false)
		updated, err = e.client.updateLease(ctx, l)
	}
	if err != nil {
		return fmt.Errorf("updating the lease: %w", err)
	}
	e.observe(updated)
	return nil
}

// release hands the Lease back (an empty holder) if it is still ours. It
// uses its own context: run's has ended.
func (e *elector) release() {
	if e.seenRec.holder != e.identity {
		return // taken while run's context was ending
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	l := e.seen
	// A conflict is a renewal that was cancelled on our side but landed:
	// read the Lease and try again, twice at most.
	for range 3 {
		l = l.DeepCopy()
		now := metav1.NewMicroTime(e.now())
		l.Spec.HolderIdentity = new("")
		l.Spec.LeaseDurationSeconds = new(int32(1))
		l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
		_, err := e.client.updateLease(ctx, l)
		if err == nil {
			e.log.Info("released the lease")
			return
		}
		if !apierrors.IsConflict(err) {
			e.log.Error("releasing the lease", "error", err.Error())
			return
		}
		if l, err = e.client.getLease(ctx, e.namespace, e.name); err != nil {
			e.log.Error("reading the lease to release it", "error", err.Error())
			return
		}
		if recordOf(l).holder != e.identity {
			return // already taken
		}
	}
	e.log.Error("releasing the lease", "error", "it changed three times under us")
}

// claim makes l's spec name this replica, renewed now; a new holder also
// sets acquireTime and counts a transition (none for a new Lease).
func (e *elector) claim(l *coordinationv1.Lease, newHolder bool) {
	now := metav1.NewMicroTime(e.now())
	s := &l.Spec
	s.HolderIdentity = new(e.identity)
	// In whole seconds, rounded up: a shorter duration would let
	// client-go candidates, which trust it, take over too early.
	s.LeaseDurationSeconds = new(int32((e.leaseDuration + time.Second - 1) / time.Second))
	s.RenewTime = &now
	if newHolder || s.AcquireTime == nil {
		s.AcquireTime = &now
	}
	switch {
	case l.ResourceVersion == "": // being created
		s.LeaseTransitions = new(int32(0))
	case newHolder:
		s.LeaseTransitions = new(recordOf(l).transitions + 1)
	case s.LeaseTransitions == nil:
		s.LeaseTransitions = new(int32(0))
	}
}

// observe notes l as the Lease's latest version, and when it was first
// seen with that spec, and tells onNewLeader of a new holder.
func (e *elector) observe(l *coordinationv1.Lease) {
	r := recordOf(l)
	if e.seen == nil || r != e.seenRec {
		e.seenRec, e.seenAt = r, e.now()
	}
	e.seen = l
	if r.holder != e.reported {
		e.reported = r.holder
		if e.onNewLeader != nil {
			e.onNewLeader(r.holder)
		}
	}
}

// logAPI logs a failed call, quietly when it is a lost race, and not at
// all when ctx has ended.
func (e *elector) logAPI(ctx context.Context, doing string, err error) {
	switch {
	case ctx.Err() != nil:
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		e.log.Debug(doing+": another replica was first", "error", err.Error())
	default:
		e.log.Error(doing, "error", err.Error())
	}
}

// sleep waits d, and reports false instead when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
