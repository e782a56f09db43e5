package main

import (
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeAPI stands in for kube-apiserver on loopback (HTTPS), answering the
// reads shipgate makes in a cluster and nothing more: the namespace list
// and watch behind its label cache, GETs of owners (every Deployment or
// ReplicaSet exists, with the uid uidOf gives it), and service accounts
// (for pull secrets; none have any). shipgate runs unmodified against it
// with --kubeconfig, so an inherited object costs the owner GET it costs in
// a cluster, over a real HTTPS connection, minus the real API server's own
// work (authentication, authorization, etcd or its watch cache).
type kubeAPI struct {
	server   *httptest.Server
	requests atomic.Int64
	owners   atomic.Int64
	conns    atomic.Int64 // TLS connections accepted
	mu       sync.Mutex
	kinds    map[string]int64 // "GET serviceaccounts" → count
}

func startKubeAPI() *kubeAPI {
	k := &kubeAPI{kinds: map[string]int64{}}
	k.server = httptest.NewUnstartedServer(http.HandlerFunc(k.serve))
	k.server.EnableHTTP2 = true
	k.server.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			k.conns.Add(1)
		}
	}
	k.server.StartTLS()
	return k
}

func (k *kubeAPI) close() { k.server.Close() }

// writeKubeconfig writes a kubeconfig for the stand-in to path.
func (k *kubeAPI) writeKubeconfig(path string) error {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.server.Certificate().Raw})
	cfg := map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": "bench",
		"clusters": []any{map[string]any{"name": "bench", "cluster": map[string]any{
			"server": k.server.URL, "certificate-authority-data": ca}}},
		"users":    []any{map[string]any{"name": "shipgate", "user": map[string]any{"token": "bench"}}},
		"contexts": []any{map[string]any{"name": "bench", "context": map[string]any{"cluster": "bench", "user": "shipgate"}}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func (k *kubeAPI) namespaceObject() corev1.Namespace {
	return corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: namespace, UID: uidOf("Namespace", "", namespace), ResourceVersion: "1",
			CreationTimestamp: baseTime,
			Labels:            map[string]string{"kubernetes.io/metadata.name": namespace, "team": "payments"}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

func (k *kubeAPI) serve(w http.ResponseWriter, r *http.Request) {
	k.requests.Add(1)
	k.count(r)
	if r.Method != http.MethodGet {
		k.status(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" is not served here")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/api/v1/namespaces":
		if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
			k.watchNamespaces(w, r)
			return
		}
		k.json(w, corev1.NamespaceList{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NamespaceList"},
			ListMeta: metav1.ListMeta{ResourceVersion: "1"},
			Items:    []corev1.Namespace{k.namespaceObject()},
		})
	case len(parts) == 4 && parts[0] == "api" && parts[2] == "namespaces" && parts[3] == namespace:
		k.json(w, k.namespaceObject())
	case len(parts) == 6 && parts[0] == "api" && parts[4] == "serviceaccounts":
		k.json(w, corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: parts[5], Namespace: parts[3], UID: uidOf("ServiceAccount", parts[3], parts[5]), ResourceVersion: "1"},
		})
	case len(parts) == 7 && parts[0] == "apis" && parts[3] == "namespaces":
		kind, ok := ownerKinds[parts[1]+"/"+parts[5]]
		if !ok {
			k.status(w, http.StatusNotFound, "NotFound", "no such resource")
			return
		}
		k.owners.Add(1)
		ns, name := parts[4], parts[6]
		k.json(w, map[string]any{
			"apiVersion": parts[1] + "/" + parts[2], "kind": kind,
			"metadata": metav1.ObjectMeta{Name: name, Namespace: ns, UID: uidOf(kind, ns, name), ResourceVersion: "1", CreationTimestamp: baseTime},
		})
	default:
		k.status(w, http.StatusNotFound, "NotFound", r.URL.Path+" not found")
	}
}

// ownerKinds maps group/resource to the kinds an owner reference names.
var ownerKinds = map[string]string{
	"apps/deployments": "Deployment", "apps/replicasets": "ReplicaSet",
	"apps/statefulsets": "StatefulSet", "apps/daemonsets": "DaemonSet",
	"batch/jobs": "Job", "batch/cronjobs": "CronJob",
}

// watchNamespaces serves a watch: the initial events when the client asks
// for them (client-go's streaming list), then nothing until the client's
// timeout: namespaces do not change during a benchmark.
func (k *kubeAPI) watchNamespaces(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	if r.URL.Query().Get("sendInitialEvents") == "true" {
		_ = enc.Encode(map[string]any{"type": "ADDED", "object": k.namespaceObject()})
		_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"resourceVersion": "1", "annotations": map[string]string{"k8s.io/initial-events-end": "true"}},
		}})
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	timeout := 5 * time.Minute
	if s, err := strconv.Atoi(r.URL.Query().Get("timeoutSeconds")); err == nil && s > 0 {
		timeout = time.Duration(s) * time.Second
	}
	select {
	case <-r.Context().Done():
	case <-time.After(timeout):
	}
}

// count counts r by what it reads: "GET replicasets", "WATCH namespaces".
func (k *kubeAPI) count(r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	what := r.URL.Path
	switch {
	case len(parts) == 3 || len(parts) == 4 && parts[0] == "api":
		what = parts[2]
	case len(parts) >= 6:
		what = parts[len(parts)-2]
	}
	verb := r.Method
	if q := r.URL.Query().Get("watch"); q == "true" || q == "1" {
		verb = "WATCH"
	}
	k.mu.Lock()
	k.kinds[verb+" "+what]++
	k.mu.Unlock()
}

func (k *kubeAPI) kindCounts() map[string]int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]int64, len(k.kinds)+1)
	for key, v := range k.kinds {
		out[key] = v
	}
	out["TLS connections"] = k.conns.Load()
	return out
}

func (k *kubeAPI) json(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (k *kubeAPI) status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: metav1.StatusReason(reason), Message: msg,
	})
}
