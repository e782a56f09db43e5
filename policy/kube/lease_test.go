package kube

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The tests time nothing. Those on real time use durations short enough to
// run quickly and assert only what happened, and in what order, polling
// with waitFor; those that must tell "not yet" from "never" stop a
// testClock and count the elector's calls instead.

// leaseName is the Lease the tests stand for.
const leaseName = "shipgate-policy-status"

// fakeLeases keeps Leases in memory as the API server does: each write
// bumps the resourceVersion, and a write of a stale one conflicts.
type fakeLeases struct {
	mu     sync.Mutex
	leases map[string]*coordinationv1.Lease
	rv     int
	down   bool // every call fails, as in an API outage
	calls  int  // calls made, failed ones included
	gets   int
	// holders is the holder each write left, in order.
	holders []string
}

var _ leases = (*fakeLeases)(nil)

func newFakeLeases() *fakeLeases {
	return &fakeLeases{leases: map[string]*coordinationv1.Lease{}}
}

var leaseResource = coordinationv1.Resource("leases")

// enter counts a call and fails it as the API server would; f.mu is held.
func (f *fakeLeases) enter(ctx context.Context) error {
	f.calls++
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.down {
		return apierrors.NewServiceUnavailable("the API server is down (test)")
	}
	return nil
}

// store writes a copy of l with the next resourceVersion; f.mu is held.
func (f *fakeLeases) store(l *coordinationv1.Lease) *coordinationv1.Lease {
	f.rv++
	l = l.DeepCopy()
	l.ResourceVersion = strconv.Itoa(f.rv)
	f.leases[l.Namespace+"/"+l.Name] = l
	f.holders = append(f.holders, holderOf(l))
	return l.DeepCopy()
}

func (f *fakeLeases) getLease(ctx context.Context, namespace, name string) (*coordinationv1.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	l, ok := f.leases[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(leaseResource, name)
	}
	return l.DeepCopy(), nil
}

func (f *fakeLeases) createLease(ctx context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	if _, ok := f.leases[l.Namespace+"/"+l.Name]; ok {
		return nil, apierrors.NewAlreadyExists(leaseResource, l.Name)
	}
	return f.store(l), nil
}

func (f *fakeLeases) updateLease(ctx context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	old, ok := f.leases[l.Namespace+"/"+l.Name]
	if !ok {
		return nil, apierrors.NewNotFound(leaseResource, l.Name)
	}
	if l.ResourceVersion != old.ResourceVersion {
		return nil, apierrors.NewConflict(leaseResource, l.Name,
			fmt.Errorf("resourceVersion %s is not the Lease's %s", l.ResourceVersion, old.ResourceVersion))
	}
	return f.store(l), nil
}

// put writes l, or changes the stored Lease with edit, as another client
// would.
func (f *fakeLeases) put(l *coordinationv1.Lease, edit func(*coordinationv1.Lease)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l == nil {
		l = f.leases[clusterNS+"/"+leaseName].DeepCopy()
	}
	if edit != nil {
		edit(l)
	}
	f.store(l)
}

// lease is a copy of the test Lease, nil when absent.
func (f *fakeLeases) lease() *coordinationv1.Lease {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leases[clusterNS+"/"+leaseName].DeepCopy()
}

func (f *fakeLeases) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeLeases) counts() (calls, gets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.gets
}

func (f *fakeLeases) history() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.holders)
}

func holderOf(l *coordinationv1.Lease) string {
	if l == nil {
		return "<no lease>"
	}
	if l.Spec.HolderIdentity == nil {
		return "<nil>"
	}
	return *l.Spec.HolderIdentity
}

// leaders records each elector's terms, its onNewLeader reports, and how
// many led at once.
type leaders struct {
	mu           sync.Mutex
	begun, ended map[string]int
	reports      map[string][]string
	active, most int
}

func newLeaders() *leaders {
	return &leaders{begun: map[string]int{}, ended: map[string]int{}, reports: map[string][]string{}}
}

// lead is id's onStartedLeading: a term that lasts until ctx ends.
func (ls *leaders) lead(id string) func(context.Context) {
	return func(ctx context.Context) {
		ls.mu.Lock()
		ls.begun[id]++
		ls.active++
		ls.most = max(ls.most, ls.active)
		ls.mu.Unlock()
		<-ctx.Done()
		ls.mu.Lock()
		ls.ended[id]++
		ls.active--
		ls.mu.Unlock()
	}
}

func (ls *leaders) newLeader(id string) func(string) {
	return func(holder string) {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		ls.reports[id] = append(ls.reports[id], holder)
	}
}

// terms is how many terms id has begun and ended.
func (ls *leaders) terms(id string) (begun, ended int) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.begun[id], ls.ended[id]
}

// reported is what id's onNewLeader was told, in order.
func (ls *leaders) reported(id string) []string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return slices.Clone(ls.reports[id])
}

// mostAtOnce is the most electors that led at the same time.
func (ls *leaders) mostAtOnce() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.most
}

// waitTerms waits until id has begun and ended that many terms.
func (ls *leaders) waitTerms(t *testing.T, id string, begun, ended int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s to begin %d terms and end %d", id, begun, ended), func() error {
		if b, e := ls.terms(id); b != begun || e != ended {
			return fmt.Errorf("begun %d, ended %d", b, e)
		}
		return nil
	})
}

// testClock is a clock that moves only when told to.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newElector is identity's elector for the test Lease, recording into ls.
func newElector(t *testing.T, f *fakeLeases, ls *leaders, identity string, lease, renew, retry time.Duration) *elector {
	return &elector{
		client: f, namespace: clusterNS, name: leaseName, identity: identity,
		leaseDuration: lease, renewDeadline: renew, retryPeriod: retry,
		onStartedLeading: ls.lead(identity), onNewLeader: ls.newLeader(identity),
		log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start runs e until stop, or the end of the test; stop returns once run
// has.
func start(t *testing.T, e *elector) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: run did not return within 10s of its context ending", e.identity)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// heldBy is an error unless the Lease names holder.
func heldBy(f *fakeLeases, holder string) error {
	if h := holderOf(f.lease()); h != holder {
		return fmt.Errorf("held by %q", h)
	}
	return nil
}

func TestLeaseAcquireAbsent(t *testing.T) {
	t.Parallel()
	f, ls := newFakeLeases(), newLeaders()
	stop := start(t, newElector(t, f, ls, "a", 300*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond))

	ls.waitTerms(t, "a", 1, 0)
	l := f.lease()
	s := l.Spec
	if holderOf(l) != "a" || s.LeaseDurationSeconds == nil || *s.LeaseDurationSeconds != 1 ||
		s.LeaseTransitions == nil || *s.LeaseTransitions != 0 || s.AcquireTime == nil || s.RenewTime == nil {
		t.Fatalf("created Lease spec = %+v, want holder a, 1s (300ms rounded up), 0 transitions, both times", s)
	}
	waitFor(t, "a renewal", func() error {
		if l := f.lease(); l.Spec.RenewTime.Equal(s.RenewTime) || holderOf(l) != "a" {
			return fmt.Errorf("not renewed by a: %+v", l.Spec)
		}
		return nil
	})

	stop()
	if b, e := ls.terms("a"); b != 1 || e != 1 {
		t.Errorf("run returned with %d terms begun and %d ended, want 1 and 1", b, e)
	}
	if s := f.lease().Spec; holderOf(f.lease()) != "" || *s.LeaseDurationSeconds != 1 || *s.LeaseTransitions != 0 {
		t.Errorf("Lease after stopping = %+v, want it released (holder \"\", 1s, still 0 transitions)", s)
	}
	if got := ls.reported("a"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("onNewLeader got %q, want [a]", got)
	}
}

func TestLeaseTwoElectors(t *testing.T) {
	t.Parallel()
	f, ls := newFakeLeases(), newLeaders()
	// A long lease duration: the hand-over below must come from the
	// release, and a stalled test machine must not cause one.
	stops := map[string]func(){}
	for _, id := range []string{"a", "b"} {
		stops[id] = start(t, newElector(t, f, ls, id, 5*time.Second, time.Second, 50*time.Millisecond))
	}
	var leader, other string
	waitFor(t, "a leader", func() error {
		switch h := holderOf(f.lease()); h {
		case "a":
			leader, other = "a", "b"
		case "b":
			leader, other = "b", "a"
		default:
			return fmt.Errorf("held by %q", h)
		}
		return nil
	})
	ls.waitTerms(t, leader, 1, 0)
	time.Sleep(time.Second) // both stand for a while; no assertion on how long
	if b, _ := ls.terms(other); b != 0 {
		t.Fatalf("%s led while %s held the Lease", other, leader)
	}

	stops[leader]()
	if b, e := ls.terms(leader); b != 1 || e != 1 {
		t.Errorf("%s's run returned with %d terms begun and %d ended, want 1 and 1", leader, b, e)
	}
	ls.waitTerms(t, other, 1, 0)
	if err := heldBy(f, other); err != nil {
		t.Fatal(err)
	}
	if n := *f.lease().Spec.LeaseTransitions; n != 1 {
		t.Errorf("leaseTransitions = %d after the hand-over, want 1", n)
	}
	h := f.history()
	if i := slices.Index(h, other); i < 1 || h[i-1] != "" {
		t.Errorf("holders written %q: want %s's release (\"\") just before %s took over", h, leader, other)
	}
	if got, want := ls.reported(other), []string{leader, "", other}; !slices.Equal(got, want) {
		t.Errorf("%s's onNewLeader got %q, want %q", other, got, want)
	}
	if n := ls.mostAtOnce(); n != 1 {
		t.Errorf("%d electors led at once", n)
	}
}

// heldLease is a Lease that other holds, declaring declared seconds.
func heldLease(holder string, declared int32, at time.Time) *coordinationv1.Lease {
	t := metav1.NewMicroTime(at)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS, Name: leaseName},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &holder, LeaseDurationSeconds: &declared,
			AcquireTime: &t, RenewTime: &t, LeaseTransitions: new(int32(3)),
		},
	}
}

// polled waits until the elector has read the Lease twice since the call,
// so it has decided on a reading made after whatever the test just did,
// or until the Lease is no longer other's.
func polled(t *testing.T, f *fakeLeases, other string) {
	t.Helper()
	_, from := f.counts()
	waitFor(t, "the elector to read the Lease twice", func() error {
		if _, gets := f.counts(); gets < from+2 && heldBy(f, other) == nil {
			return fmt.Errorf("%d reads", gets-from)
		}
		return nil
	})
}

func TestLeaseHeldByAnother(t *testing.T) {
	for name, tc := range map[string]struct {
		ours     time.Duration
		declared int32
	}{
		"our lease duration is the longer": {ours: 15 * time.Second, declared: 5},
		"the holder declares a longer one": {ours: 12 * time.Second, declared: 15},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, ls := newFakeLeases(), newLeaders()
			clock := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			f.put(heldLease("other", tc.declared, clock.now()), nil)
			e := newElector(t, f, ls, "a", tc.ours, 10*time.Second, 10*time.Millisecond)
			e.now = clock.now
			start(t, e)
			polled(t, f, "other")

			// other renews every 14s of a's clock: never 15s without a change.
			for range 5 {
				clock.advance(14 * time.Second)
				polled(t, f, "other")
				if err := heldBy(f, "other"); err != nil {
					t.Fatalf("taken 14s after a renewal: %v", err)
				}
				f.put(nil, func(l *coordinationv1.Lease) { l.Spec.RenewTime = new(metav1.NewMicroTime(clock.now())) })
				polled(t, f, "other")
			}

			// other stops renewing: a takes the Lease 15s after it last changed.
			clock.advance(14*time.Second + 999*time.Millisecond)
			polled(t, f, "other")
			if err := heldBy(f, "other"); err != nil {
				t.Fatalf("taken before 15s without a change: %v", err)
			}
			clock.advance(time.Millisecond)
			ls.waitTerms(t, "a", 1, 0)
			s := f.lease().Spec
			if holderOf(f.lease()) != "a" || *s.LeaseTransitions != 4 || !s.AcquireTime.Time.Equal(clock.now()) {
				t.Errorf("Lease after the take-over = %+v, want holder a, 4 transitions, acquired now", s)
			}
		})
	}
}

func TestLeaseOutage(t *testing.T) {
	t.Parallel()
	f, ls := newFakeLeases(), newLeaders()
	clock := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newElector(t, f, ls, "a", 15*time.Second, 10*time.Second, 10*time.Millisecond)
	e.now = clock.now
	start(t, e)
	ls.waitTerms(t, "a", 1, 0)

	f.setDown(true)
	from, _ := f.counts()
	waitFor(t, "five failed renewals", func() error {
		if calls, _ := f.counts(); calls < from+5 {
			return fmt.Errorf("%d calls", calls-from)
		}
		return nil
	})
	if _, ended := ls.terms("a"); ended != 0 {
		t.Fatal("leadership lost while the renew deadline had not passed on a's clock")
	}
	clock.advance(10*time.Second + time.Millisecond)
	ls.waitTerms(t, "a", 1, 1)

	from, _ = f.counts()
	waitFor(t, "two more calls", func() error {
		if calls, _ := f.counts(); calls < from+2 {
			return fmt.Errorf("%d calls", calls-from)
		}
		return nil
	})
	if begun, _ := ls.terms("a"); begun != 1 {
		t.Fatal("a led again while the API server was down")
	}
	f.setDown(false)
	ls.waitTerms(t, "a", 2, 1)
	if err := heldBy(f, "a"); err != nil {
		t.Fatal(err)
	}
	if n := *f.lease().Spec.LeaseTransitions; n != 0 {
		t.Errorf("leaseTransitions = %d after a took its own Lease back, want 0", n)
	}
}

func TestLeaseTakenFromLeader(t *testing.T) {
	t.Parallel()
	f, ls := newFakeLeases(), newLeaders()
	clock := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newElector(t, f, ls, "a", 15*time.Second, 10*time.Second, 10*time.Millisecond)
	e.now = clock.now
	start(t, e)
	ls.waitTerms(t, "a", 1, 0)

	f.put(heldLease("other", 15, clock.now()), nil)
	ls.waitTerms(t, "a", 1, 1)
	polled(t, f, "other")
	if err := heldBy(f, "other"); err != nil {
		t.Fatalf("a took the Lease back at once: %v", err)
	}
	if got, want := ls.reported("a"), []string{"a", "other"}; !slices.Equal(got, want) {
		t.Errorf("onNewLeader got %q, want %q", got, want)
	}
}

func TestLeaseNilFields(t *testing.T) {
	for name, spec := range map[string]coordinationv1.LeaseSpec{
		"empty spec":                    {},
		"a holder and nothing else":     {HolderIdentity: new("other")},
		"released, with nil times":      {HolderIdentity: new(""), LeaseTransitions: new(int32(2))},
		"ours, with nil duration, time": {HolderIdentity: new("a")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, ls := newFakeLeases(), newLeaders()
			f.put(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS, Name: leaseName}, Spec: spec}, nil)
			start(t, newElector(t, f, ls, "a", 300*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond))
			ls.waitTerms(t, "a", 1, 0)
			s := f.lease().Spec
			if holderOf(f.lease()) != "a" || s.LeaseDurationSeconds == nil || s.AcquireTime == nil ||
				s.RenewTime == nil || s.LeaseTransitions == nil {
				t.Errorf("Lease spec = %+v, want every field set, held by a", s)
			}
		})
	}
}

func TestLeaseRejectsTimings(t *testing.T) {
	for name, tc := range map[string]struct {
		lease, renew, retry time.Duration
		want                string
	}{
		"lease duration not above renew deadline": {time.Second, time.Second, 100 * time.Millisecond, "longer than the renew deadline"},
		"renew deadline not above retry period":   {2 * time.Second, time.Second, time.Second, "longer than the retry period"},
		"no retry period":                         {2 * time.Second, time.Second, 0, "not positive"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, ls := newFakeLeases(), newLeaders()
			e := newElector(t, f, ls, "a", tc.lease, tc.renew, tc.retry)
			var log bytes.Buffer
			e.log = slog.New(slog.NewTextHandler(&log, nil))
			done := make(chan struct{})
			go func() {
				defer close(done)
				e.run(t.Context())
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("run did not return")
			}
			if calls, _ := f.counts(); calls != 0 {
				t.Errorf("run made %d API calls", calls)
			}
			if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), tc.want) {
				t.Errorf("log = %q, want an error saying %q", log.String(), tc.want)
			}
		})
	}
}
