// Package approval holds approval requests for rollouts and the rules they
// are judged by: how many distinct people, from which groups, never the
// requester, must approve one exact rollout — its fingerprint, which covers
// the namespace, kind, name, canonical pod template and image digests —
// before /validate admits it; break-glass approvals; expiry judged by the
// store's clock; and notifications to webhook receivers.
//
// A request moves through these states:
//
//	pending ──enough approvals──▶ approved ──admits its rollout──▶ used
//	   │  └──one break-glass approval──▶ approved (flagged)         │
//	   ├──one rejection──▶ rejected                                 │
//	   └──pending expiry──▶ expired ◀──approved (or break-glass) expiry
//
// "used" is an approved request that has admitted its rollout at least once;
// it keeps admitting that same fingerprint (a re-apply, the API server's
// retry) until its approval expires. Every transition and every vote is
// appended to the audit log. Package approval/api serves it over REST.
package approval
