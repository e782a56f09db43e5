// Package auth says who is calling shipgate's API and whether they may do
// what they ask. Identity comes from a bearer token — Kubernetes TokenReview
// in a cluster (auth/kube), a static token file (the kube-apiserver's
// token,user,uid,"group1,group2" format) for local use — and never from a
// request body. Permission comes from a SubjectAccessReview on resources of
// the API group shipgate.dev, so teams grant approvers with ordinary Roles
// and RoleBindings, or from a static role file for local use.
package auth
