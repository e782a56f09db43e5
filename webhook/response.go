package webhook

import (
	"net/http"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Response is what a handler answers: an AdmissionResponse (uid filled in
// by the HTTP adapter). The HTTP status is always 200; the outcome is in
// Allowed and Result.Code.
type Response struct {
	admissionv1.AdmissionResponse
}

// Allowed admits the request.
func Allowed() Response {
	return Response{admissionv1.AdmissionResponse{
		Allowed: true,
		Result:  &metav1.Status{Code: http.StatusOK},
	}}
}

// Denied refuses the request with a 403 and the given message.
func Denied(message string) Response {
	return Response{admissionv1.AdmissionResponse{
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: message,
		},
	}}
}

// Errored refuses the request because it could not be judged: 400 for a
// request shipgate cannot read, 500 for its own failure, 429 when shedding
// load, 504 when the deadline ran out.
func Errored(code int32, message string) Response {
	reason := metav1.StatusReasonInternalError
	switch code {
	case http.StatusBadRequest:
		reason = metav1.StatusReasonBadRequest
	case http.StatusTooManyRequests:
		reason = metav1.StatusReasonTooManyRequests
	case http.StatusGatewayTimeout:
		reason = metav1.StatusReasonTimeout
	}
	return Response{admissionv1.AdmissionResponse{
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    code,
			Reason:  reason,
			Message: message,
		},
	}}
}

// WithWarnings appends warnings kubectl prints to the user.
func (r Response) WithWarnings(warnings ...string) Response {
	if len(warnings) > 0 {
		r.Warnings = append(slices.Clip(r.Warnings), warnings...)
	}
	return r
}

// WithAnnotation adds an audit annotation. The API server prefixes the key
// with the webhook's name; a key holding a "/" of its own is dropped by it.
func (r Response) WithAnnotation(key, value string) Response {
	m := make(map[string]string, len(r.AuditAnnotations)+1)
	for k, v := range r.AuditAnnotations {
		m[k] = v
	}
	m[key] = value
	r.AuditAnnotations = m
	return r
}

// WithPatch attaches a JSON patch (RFC 6902) to an allowed response.
func (r Response) WithPatch(patch []byte) Response {
	if len(patch) == 0 {
		return r
	}
	pt := admissionv1.PatchTypeJSONPatch
	r.Patch = patch
	r.PatchType = &pt
	return r
}

// outcome names the response for metrics and logs.
func (r Response) outcome() string {
	switch {
	case !r.Allowed && r.Result != nil && r.Result.Code == http.StatusForbidden:
		return "denied"
	case !r.Allowed:
		return "error"
	case len(r.Warnings) > 0:
		return "warned"
	default:
		return "allowed"
	}
}
