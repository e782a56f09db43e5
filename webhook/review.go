package webhook

import (
	"errors"
	"fmt"
	"io"

	json "github.com/go-json-experiment/json"
	admissionv1 "k8s.io/api/admission/v1"
)

// MaxBodyBytes is 7 MiB: etcd's object limit is 1.5 MiB, an AdmissionReview
// carries object and oldObject, and JSON escaping and the request's other
// fields need headroom on top.
const MaxBodyBytes = 7 << 20

// ErrBodyTooLarge is returned when a request body exceeds MaxBodyBytes.
var ErrBodyTooLarge = errors.New("request body exceeds 7 MiB")

// ErrInvalidReview is wrapped by every error about a body that is not an
// admission.k8s.io/v1 AdmissionReview.
var ErrInvalidReview = errors.New("invalid AdmissionReview")

// Request is one AdmissionRequest with the body it arrived in.
type Request struct {
	admissionv1.AdmissionRequest
	// Raw is the AdmissionReview exactly as received.
	Raw []byte
}

// IsDryRun tells whether the API server will not persist the request.
func (r *Request) IsDryRun() bool { return r.DryRun != nil && *r.DryRun }

// readBody reads at most MaxBodyBytes from r. size is the Content-Length
// when known (-1 otherwise); it sizes the buffer once instead of growing it.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	if size > 0 {
		body := make([]byte, size+1)
		n, err := io.ReadFull(r, body)
		switch {
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			return body[:n], nil
		case err != nil:
			return nil, fmt.Errorf("reading request body: %w", err)
		}
		// More than Content-Length announced: read on, within the cap.
		rest, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1-int64(n)))
		if err != nil {
			return nil, fmt.Errorf("reading request body: %w", err)
		}
		body = append(body[:n], rest...)
		if len(body) > MaxBodyBytes {
			return nil, ErrBodyTooLarge
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	return body, nil
}

// DecodeReview parses an admission.k8s.io/v1 AdmissionReview. Its errors
// wrap ErrInvalidReview and fit on one line.
//
// It decodes with github.com/go-json-experiment/json (the encoding/json/v2
// proposal), which reads a Deployment UPDATE review about three times faster
// than encoding/json, calls the same UnmarshalJSON methods the Kubernetes
// types rely on, and is stricter where strictness matters here: member names
// are case-sensitive as in the API server's own decoder, and duplicate names
// and invalid UTF-8 are refused. A panic inside the decoder becomes an
// error, never a crash.
func DecodeReview(body []byte) (req *Request, err error) {
	defer func() {
		if p := recover(); p != nil {
			req, err = nil, fmt.Errorf("%w: decoder failed: %v", ErrInvalidReview, p)
		}
	}()
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidReview, oneLine(err.Error()))
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("%w: apiVersion %q and kind %q, want admission.k8s.io/v1 AdmissionReview",
			ErrInvalidReview, review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, fmt.Errorf("%w: no request", ErrInvalidReview)
	}
	if review.Request.UID == "" {
		return nil, fmt.Errorf("%w: request.uid is empty", ErrInvalidReview)
	}
	return &Request{AdmissionRequest: *review.Request, Raw: body}, nil
}

// oneLine keeps the first line of s and at most 200 bytes of it.
func oneLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			s = s[:i]
			break
		}
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
