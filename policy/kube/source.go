package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/shipgate/shipgate/internal/kube"
	"github.com/shipgate/shipgate/policy"
)

// Source keeps an Engine's policy in step with the policy ConfigMaps of a
// cluster and the policy directory. Every replica runs one and enforces
// what it loads; only the one holding the Lease writes statuses.
type Source struct {
	o        options
	client   *kube.Client
	informer cache.SharedIndexInformer
	writer   *statusWriter
	refused  prometheus.Gauge

	// mu serialises the loader: the event loop and SetDirectory.
	mu     sync.Mutex
	loader *loader

	// pending are ConfigMap events not yet loaded, by key; nil for a
	// deletion. kick wakes the loop.
	pmu     sync.Mutex
	pending map[string]*corev1.ConfigMap
	kick    chan struct{}

	synced atomic.Bool
}

// New builds a Source over engine, whose cluster policy must be the
// directory bundle given WithDirectory (or empty). Nothing is watched
// until Run.
func New(client *kube.Client, engine *policy.Engine, opts ...Option) *Source {
	o := newOptions(opts)
	lw := client.ListWatch(kube.ConfigMaps, metav1.NamespaceAll,
		func(lo *metav1.ListOptions) { lo.LabelSelector = Selector },
		func() runtime.Object { return &corev1.ConfigMap{} },
		func() runtime.Object { return &corev1.ConfigMapList{} })
	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0,
		cache.Indexers{})
	// SetTransform fails only once the informer has started; it has not.
	_ = inf.SetTransform(slimConfigMap)
	s := &Source{
		o:        o,
		client:   client,
		informer: inf,
		loader:   newLoader(engine, o.namespace, o.directory, o.log),
		pending:  map[string]*corev1.ConfigMap{},
		kick:     make(chan struct{}, 1),
		refused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shipgate_policy_configmaps_refused",
			Help: "Policy ConfigMaps whose latest version is not in force (see their shipgate.dev/policy-status).",
		}),
	}
	s.writer = newStatusWriter(client, inf.GetIndexer(), o.log)
	if o.registry != nil {
		o.registry.MustRegister(s.refused, s.writer.writes, s.writer.leader)
	}
	// AddEventHandler fails only once the informer has stopped.
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.observe(obj, false) },
		UpdateFunc: func(_, obj any) { s.observe(obj, false) },
		DeleteFunc: func(obj any) { s.observe(obj, true) },
	})
	return s
}

// Run watches the ConfigMaps and loads them until ctx ends: first every
// one at once, then each change a moment (WithDebounce) after it happens.
// It stands for the Lease while it runs.
func (s *Source) Run(ctx context.Context) error {
	var informing sync.WaitGroup
	defer informing.Wait()
	informing.Go(func() { s.informer.RunWithContext(ctx) })
	if !cache.WaitForCacheSync(ctx.Done(), s.informer.HasSynced) {
		return nil // ctx ended first
	}
	s.flush()
	s.synced.Store(true)

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.elect(ctx) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.o.debounce):
		}
		s.flush()
	}
}

// HasSynced reports whether every policy ConfigMap that existed when Run
// started has been loaded (or refused), for readiness.
func (s *Source) HasSynced() bool { return s.synced.Load() }

// SetDirectory takes a new reading of the policy directory and puts it in
// force with the ConfigMaps of shipgate's namespace. When it does not
// compile, the reading in force stays, and the error (file:line) is
// returned, again for each reading of the same content.
func (s *Source) SetDirectory(b *policy.Bundle) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loader.setDirectory(b) {
		return s.loader.dirErr
	}
	keys, err := s.loader.reload()
	s.publish(keys)
	return err
}

// Status is the status of a policy ConfigMap as this replica sees it.
func (s *Source) Status(namespace, name string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, _, ok := s.loader.status(namespace + "/" + name)
	return st, ok
}

// observe queues a ConfigMap event for the loop, and for the status
// writer, which checks the ConfigMap still says what it should.
func (s *Source) observe(obj any, deleted bool) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	cm, _ := obj.(*corev1.ConfigMap)
	if deleted || cm == nil {
		cm = nil
	}
	s.pmu.Lock()
	s.pending[key] = cm
	s.pmu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if cm != nil {
		s.writer.enqueue(key)
	}
}

// flush loads the pending events.
func (s *Source) flush() {
	s.pmu.Lock()
	pending := s.pending
	s.pending = map[string]*corev1.ConfigMap{}
	s.pmu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	for key, cm := range pending {
		if cm == nil {
			if s.loader.deleteConfigMap(key) {
				s.writer.remove(key)
			}
			continue
		}
		s.loader.setConfigMap(cm)
	}
	keys, err := s.loader.reload()
	if err != nil { // the directory's own error: SetDirectory reports it
		s.o.log.Debug("policy directory reading refused", "error", err.Error())
	}
	s.publish(keys)
}

// publish hands the statuses of keys to the writer; s.mu is held.
func (s *Source) publish(keys []string) {
	for _, key := range keys {
		if st, digest, ok := s.loader.status(key); ok {
			s.writer.set(key, desired{text: st.String(), digest: digest})
		}
	}
	n := 0
	for _, p := range s.loader.parts {
		if p.key != directoryKey && !p.status.Loaded {
			n++
		}
	}
	s.refused.Set(float64(n))
}

// slimConfigMap drops managedFields from the cache: with a thousand
// policy ConfigMaps they would be most of it.
func slimConfigMap(obj any) (any, error) {
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		cm.ManagedFields = nil
	}
	return obj, nil
}

// randomSuffix is 8 hex digits.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
