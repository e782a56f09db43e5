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

// demoOutcome is what one admission came to: the /mutate patch (applied
// before /validate, as the API server does) and the /validate answer.
type demoOutcome struct {
	Patch    []patchOp
	Response *admissionv1.AdmissionResponse
}

// patchOp is one operation of a /mutate JSON patch.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// play runs the steps in order, printing each, and ends with the counts
// of the admission outcomes.
func (a *demoAPIServer) play(ctx context.Context, out io.Writer, steps []demoStep) error {
	counts := map[string]int{}
	for i, st := range steps {
		if st.Section != "" {
			fmt.Fprintf(out, "\n%s\n", st.Section)
		}
		fmt.Fprintf(out, "%2d. %s\n", i+1, st.Title)
		switch {
		case st.Do != nil:
			if err := st.Do(ctx, out); err != nil {
				return err
			}
			continue
		case st.Raw != "":
			code, body, err := a.post(ctx, "/validate", []byte(st.Raw))
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "    → HTTP %d: %s\n", code, strings.TrimSpace(string(body)))
			counts["refused as unreadable"]++
			continue
		}
		o, err := a.admit(ctx, st)
		if err != nil {
			return err
		}
		for _, p := range o.Patch {
			fmt.Fprintf(out, "    → /mutate patches it: %s %s = %v\n", p.Op, p.Path, p.Value)
		}
		counts[describe(out, o.Response)]++
		if o.Response.Allowed && st.Operation == "CREATE" && !st.DryRun && st.Name != "" {
			a.cluster.create(st.Kind, st.Namespace, st.Name)
		}
		if st.Then != nil {
			if err := st.Then(out, o); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(out, "\n%d admitted, %d warned, %d denied, %d refused as unreadable.\n",
		counts["admitted"], counts["warned"], counts["denied"], counts["refused as unreadable"])
	return nil
}

// admit sends the step to /mutate, applies the patch, and sends the
// patched object to /validate.
func (a *demoAPIServer) admit(ctx context.Context, st demoStep) (demoOutcome, error) {
	a.seq++
	uid := types.UID(fmt.Sprintf("demo-%04d", a.seq))
	obj, err := a.encode(st, st.Object)
	if err != nil {
		return demoOutcome{}, err
	}
	mutated, err := a.call(ctx, "/mutate", uid, st, obj)
	if err != nil {
		return demoOutcome{}, err
	}
	var o demoOutcome
	if len(mutated.Patch) > 0 {
		if err := json.Unmarshal(mutated.Patch, &o.Patch); err != nil {
			return o, fmt.Errorf("reading the /mutate patch: %w", err)
		}
		if obj, err = applyPatch(obj, o.Patch); err != nil {
			return o, err
		}
	}
	o.Response, err = a.call(ctx, "/validate", uid, st, obj)
	return o, err
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

// call posts the AdmissionReview the API server would send and decodes
// the answer.
func (a *demoAPIServer) call(ctx context.Context, path string, uid types.UID, st demoStep, obj []byte) (*admissionv1.AdmissionResponse, error) {
	var old []byte
	if st.OldObject != nil {
		var err error
		if old, err = a.encode(st, st.OldObject); err != nil {
			return nil, err
		}
	}
	review, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:         uid,
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
		},
	})
	if err != nil {
		return nil, err
	}
	code, body, err := a.post(ctx, path, review)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s answered HTTP %d: %s", path, code, body)
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &answer); err != nil || answer.Response == nil {
		return nil, fmt.Errorf("%s answered something that is not an AdmissionReview: %s", path, body)
	}
	return answer.Response, nil
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
		m.SetOwnerReferences([]metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: kind, Name: name,
			UID: a.cluster.uid(kind, st.Namespace, name), Controller: ptrTo(true),
		}})
	}
	return json.Marshal(obj)
}

func ptrTo[T any](v T) *T { return &v }

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
