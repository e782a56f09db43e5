package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shipgate/shipgate/server"
)

// demoAPIServer plays kube-apiserver: it calls the webhooks over TLS,
// trusting only the CA bundle the gateway wrote, as a webhook
// configuration's caBundle would.
type demoAPIServer struct {
	base    string
	client  *http.Client
	cluster *demoCluster
	seq     int
}

func newDemoAPIServer(srv *server.Server, cluster *demoCluster) (*demoAPIServer, error) {
	ca, err := os.ReadFile(srv.CAFile())
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("CA bundle %s holds no certificate", srv.CAFile())
	}
	return &demoAPIServer{
		base:    "https://" + srv.Addr().String(),
		cluster: cluster,
		client: &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
				ForceAttemptHTTP2: true,
			},
		},
	}, nil
}

// play sends each step to /mutate then /validate and prints the outcome.
func (a *demoAPIServer) play(ctx context.Context, out io.Writer, steps []demoStep) error {
	counts := map[string]int{}
	for i, st := range steps {
		fmt.Fprintf(out, "%2d. %s\n", i+1, st.Title)
		if st.Raw != "" {
			code, body, err := a.post(ctx, "/validate", []byte(st.Raw))
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "    → HTTP %d: %s\n", code, strings.TrimSpace(string(body)))
			counts["refused as unreadable"]++
			continue
		}
		review, err := a.review(st)
		if err != nil {
			return err
		}
		if _, err := a.call(ctx, "/mutate", review); err != nil {
			return err
		}
		resp, err := a.call(ctx, "/validate", review)
		if err != nil {
			return err
		}
		verdict := describe(out, resp)
		counts[verdict]++
		if resp.Allowed && st.Operation == "CREATE" && !st.DryRun && st.Name != "" {
			a.cluster.create(st.Kind, st.Namespace, st.Name)
		}
	}
	fmt.Fprintf(out, "\n%d admitted, %d warned, %d denied, %d refused as unreadable.\n",
		counts["admitted"], counts["warned"], counts["denied"], counts["refused as unreadable"])
	return nil
}

// describe prints one AdmissionResponse the way a user meets it.
func describe(out io.Writer, r *admissionv1.AdmissionResponse) string {
	id := r.AuditAnnotations["decision-id"]
	switch {
	case !r.Allowed:
		fmt.Fprintf(out, "    → denied (%d): %s\n", r.Result.Code, r.Result.Message)
		return "denied"
	case len(r.Warnings) > 0:
		for _, w := range r.Warnings {
			fmt.Fprintf(out, "    → admitted with a warning kubectl prints: %s\n", w)
		}
		return "warned"
	default:
		fmt.Fprintf(out, "    → admitted (decision %s)\n", id)
		return "admitted"
	}
}

// review builds the AdmissionReview the API server would send.
func (a *demoAPIServer) review(st demoStep) ([]byte, error) {
	a.seq++
	obj, err := a.encode(st, st.Object)
	if err != nil {
		return nil, err
	}
	var old []byte
	if st.OldObject != nil {
		if old, err = a.encode(st, st.OldObject); err != nil {
			return nil, err
		}
	}
	req := &admissionv1.AdmissionRequest{
		UID:         types.UID(fmt.Sprintf("demo-%04d", a.seq)),
		Kind:        metav1.GroupVersionKind{Group: st.Group, Version: "v1", Kind: st.Kind},
		Resource:    metav1.GroupVersionResource{Group: st.Group, Version: "v1", Resource: strings.ToLower(st.Kind) + "s"},
		SubResource: st.SubResource,
		Namespace:   st.Namespace,
		Name:        st.Name,
		Operation:   admissionv1.Operation(st.Operation),
		UserInfo:    authenticationv1.UserInfo{Username: st.User},
		Object:      runtime.RawExtension{Raw: obj},
		OldObject:   runtime.RawExtension{Raw: old},
		DryRun:      &st.DryRun,
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
}

// encode marshals an object, setting the owner reference the API server
// would hold for a controller-created child.
func (a *demoAPIServer) encode(st demoStep, obj any) ([]byte, error) {
	if st.Owner != "" {
		kind, name, _ := strings.Cut(st.Owner, "/")
		m, ok := obj.(metav1.Object)
		if !ok {
			return nil, fmt.Errorf("demo object %T has no metadata", obj)
		}
		apiVersion := "apps/v1"
		m.SetOwnerReferences([]metav1.OwnerReference{{
			APIVersion: apiVersion, Kind: kind, Name: name,
			UID: a.cluster.uid(kind, st.Namespace, name), Controller: ptrTo(true),
		}})
	}
	return json.Marshal(obj)
}

func ptrTo[T any](v T) *T { return &v }

// call posts a review and decodes the answer.
func (a *demoAPIServer) call(ctx context.Context, path string, review []byte) (*admissionv1.AdmissionResponse, error) {
	code, body, err := a.post(ctx, path, review)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s answered HTTP %d: %s", path, code, body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); err != nil || out.Response == nil {
		return nil, fmt.Errorf("%s answered something that is not an AdmissionReview: %s", path, body)
	}
	return out.Response, nil
}

func (a *demoAPIServer) post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path+"?timeout=10s", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("calling %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
