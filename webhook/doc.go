// Package webhook holds shipgate's two admission handlers and the decision
// pipeline behind /validate.
//
// /mutate resolves and pins image references and never denies on its own
// account; /validate extracts the workload, classifies it (rollout,
// inherited, neither), applies the floor rules and answers according to the
// namespace binding's mode. Both answer HTTP 200 with an AdmissionResponse
// for anything that decodes as an AdmissionReview; only a body that does not
// gets HTTP 400 (or 413 when it is too large).
package webhook
