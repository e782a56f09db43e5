package kube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/shipgate/shipgate/internal/kube"
)

// fieldManager owns the status annotation in managedFields.
const fieldManager = "shipgate"

// desired is the status a ConfigMap should carry, and the digest of the
// version of it the status is about.
type desired struct {
	text   string
	digest string
}

// statusWriter writes each ConfigMap's status annotation, and only while
// this replica holds the Lease. It writes a status only when the
// ConfigMap does not already carry it, and only onto the version of the
// ConfigMap it describes, so each change costs one PATCH, made by one
// replica, whatever the number of replicas and however often the
// informer resyncs.
type statusWriter struct {
	client  *kube.Client
	indexer cache.Indexer
	log     *slog.Logger
	writes  prometheus.Counter
	leader  prometheus.Gauge

	mu      sync.Mutex
	desired map[string]desired
	// queue holds the keys to look at while leading; nil otherwise.
	queue workqueue.TypedRateLimitingInterface[string]
}

func newStatusWriter(client *kube.Client, indexer cache.Indexer, log *slog.Logger) *statusWriter {
	return &statusWriter{
		client: client, indexer: indexer, log: log,
		desired: map[string]desired{},
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shipgate_policy_status_writes_total",
			Help: "Status annotations this replica wrote on policy ConfigMaps (one PATCH each).",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shipgate_policy_status_leader",
			Help: "1 while this replica holds the Lease and writes the statuses of policy ConfigMaps.",
		}),
	}
}

// set records a ConfigMap's status and looks at it when leading.
func (w *statusWriter) set(key string, d desired) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.desired[key] = d
	if w.queue != nil {
		w.queue.Add(key)
	}
}

// remove forgets a ConfigMap that is no longer policy.
func (w *statusWriter) remove(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.desired, key)
}

// enqueue looks at a ConfigMap again when leading (someone may have
// changed its status).
func (w *statusWriter) enqueue(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.queue != nil {
		w.queue.Add(key)
	}
}

// lead writes statuses until ctx ends (the Lease is lost or shipgate
// stops), starting with every ConfigMap: a new leader does not know what
// the old one wrote.
func (w *statusWriter) lead(ctx context.Context) {
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "shipgate-policy-status"})
	w.mu.Lock()
	w.queue = q
	for key := range w.desired {
		q.Add(key)
	}
	w.mu.Unlock()
	w.leader.Set(1)
	w.log.Info("writing the statuses of policy ConfigMaps: this replica holds the Lease")
	defer func() {
		w.mu.Lock()
		if w.queue == q {
			w.queue = nil
		}
		w.mu.Unlock()
		w.leader.Set(0)
	}()
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for {
		key, shutdown := q.Get()
		if shutdown {
			return
		}
		if err := w.write(ctx, key); err != nil && ctx.Err() == nil {
			w.log.Warn("writing the status of a policy ConfigMap; will retry", "configmap", key, "error", err.Error())
			q.AddRateLimited(key)
		} else {
			q.Forget(key)
		}
		q.Done(key)
	}
}

// write patches one ConfigMap's status annotation when it differs from
// what it should be, for the version the cache holds.
func (w *statusWriter) write(ctx context.Context, key string) error {
	w.mu.Lock()
	want, ok := w.desired[key]
	w.mu.Unlock()
	if !ok {
		return nil
	}
	obj, exists, err := w.indexer.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil
	}
	if digestOf(cm) != want.digest {
		return nil // a newer version is being loaded; its status comes with it
	}
	if cm.Annotations[AnnotationStatus] == want.text {
		return nil
	}
	patch, err := statusPatch(want.text, cm.ResourceVersion)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = w.client.Patch(ctx, kube.ConfigMaps, cm.Namespace, cm.Name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: fieldManager})
	switch {
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		// Changed or gone since the cache saw it: the informer brings the
		// news, and the key back.
		return nil
	case err != nil:
		return fmt.Errorf("patching %s: %w", key, err)
	}
	w.writes.Inc()
	w.log.Debug("wrote the status of a policy ConfigMap", "configmap", key, "status", want.text)
	return nil
}
