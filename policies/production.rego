# Production policy: bind it as `policies: [production]` (data.shipgate.production).
#
# Input is the AdmissionReview plus input.shipgate (see docs/policy-input.md).
# Rules that need a pod spec apply to every kind that carries one; an
# object without a pod spec raises nothing here.
package shipgate.production

# --- the pod spec of every workload kind ---------------------------------

kind := input.request.kind.kind

pod_spec := input.request.object.spec if kind == "Pod"

pod_spec := input.request.object.spec.template.spec if {
	kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
}

pod_spec := input.request.object.spec.jobTemplate.spec.template.spec if kind == "CronJob"

old_pod_spec := input.request.oldObject.spec if kind == "Pod"

old_pod_spec := input.request.oldObject.spec.template.spec if {
	kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
}

old_pod_spec := input.request.oldObject.spec.jobTemplate.spec.template.spec if kind == "CronJob"

# Long-running workloads, which readiness probes make sense for.
serving := kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod"}

# containers are the app containers; all_containers adds init and
# ephemeral ones (every image the pod runs).
containers := object.get(pod_spec, "containers", [])

all_containers := array.concat(
	array.concat(containers, object.get(pod_spec, "initContainers", [])),
	object.get(pod_spec, "ephemeralContainers", []),
)

images(spec) := {c.image |
	some field in ["containers", "initContainers", "ephemeralContainers"]
	some c in object.get(spec, field, [])
}

# --- approval: two release managers when images change -------------------

# shipgate's own fact, when it is there; otherwise the review itself.
images_changed if input.shipgate.workload.imagesChanged == true

images_changed if {
	pod_spec
	not old_pod_spec
}

images_changed if images(pod_spec) != images(old_pod_spec)

require_approval := {
	"approvers": 2,
	"groups": ["release-managers"],
	"reason": sprintf("images change in production: %s", [concat(", ", sort(images(pod_spec)))]),
} if images_changed

# --- resources ------------------------------------------------------------

deny contains {"code": "SG-PROD-LIMITS", "msg": msg} if {
	some c in array.concat(containers, object.get(pod_spec, "initContainers", []))
	some r in ["cpu", "memory"]
	not c.resources.limits[r]
	msg := sprintf("container %s has no %s limit: set resources.limits.%s", [c.name, r, r])
}

# --- readiness ------------------------------------------------------------

deny contains {"code": "SG-PROD-READINESS", "msg": msg} if {
	serving
	some c in containers
	not c.readinessProbe
	msg := sprintf("container %s has no readinessProbe: production traffic must wait until it is ready", [c.name])
}

# --- no literal secrets in env values ------------------------------------

deny contains {"code": "SG-PROD-SECRET", "msg": msg} if {
	some c in all_containers
	some e in object.get(c, "env", [])
	is_string(e.value)
	some why in secret_like(e.value)
	msg := sprintf("container %s: env %s holds what looks like %s: use valueFrom.secretKeyRef", [c.name, e.name, why])
}

secret_like(v) := {why |
	some why, pattern in secret_patterns
	regex.match(pattern, v)
} | {"a high-entropy token" | high_entropy(v)}

secret_patterns := {
	"an AWS access key": `(^|[^A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}([^A-Z0-9]|$)`,
	"a PEM key or certificate": `-----BEGIN [A-Z ]*-----`,
	"a password or token assignment": `(?i)(password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]\s*\S`,
	"credentials in a URL": `[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`,
	"a GitHub token": `(^|[^A-Za-z0-9])(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})`,
	"a Slack token": `xox[abprs]-[A-Za-z0-9-]{10,}`,
	"a JSON Web Token": `eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.`,
}

# high_entropy is true for a long token that mixes upper case, lower case
# and digits as random text does: it switches character class often
# (runs/length) and holds few lowercase words (CamelCase identifiers and
# prose do). Rego has no logarithm, so this stands in for Shannon entropy;
# hex-only strings (commit hashes, checksums) are deliberately not flagged.
high_entropy(v) if {
	count(v) >= 20
	regex.match(`^[A-Za-z0-9+/=_-]+$`, v)
	regex.match(`[A-Z]`, v)
	regex.match(`[a-z]`, v)
	regex.match(`[0-9]`, v)
	runs := regex.find_n(`[A-Z]+|[a-z]+|[0-9]+|[+/=_-]+`, v, -1)
	count(runs) * 100 >= count(v) * 35
	words := [r | some r in runs; regex.match(`^[a-z]{3,}$`, r)]
	count(words) * 4 <= count(runs)
}

# --- tags: semantic versions or commit hashes ----------------------------

semver := `^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`

commit := `^[0-9a-f]{7,40}$`

# tag returns the tag of an image reference as written ("" when it has
# none): the part after the last ":" of the last path segment, the digest
# set aside. "app:latest@sha256:…" has the tag "latest".
tag(ref) := t if {
	name := split(ref, "@")[0]
	parts := split(name, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	t := split(last, ":")[1]
} else := ""

digested(ref) if contains(ref, "@")

deny contains {"code": "SG-PROD-TAG", "msg": msg} if {
	some c in all_containers
	t := tag(c.image)
	t != ""
	not regex.match(semver, t)
	not regex.match(commit, t)
	msg := sprintf("container %s: tag %q of %s is neither a semantic version (1.4.2) nor a commit hash", [c.name, t, c.image])
}

deny contains {"code": "SG-PROD-TAG", "msg": msg} if {
	some c in all_containers
	tag(c.image) == ""
	not digested(c.image)
	msg := sprintf("container %s: image %s has no tag, which means latest: tag it with a version or a commit hash", [c.name, c.image])
}

# --- advice ---------------------------------------------------------------

warn contains {"code": "SG-PROD-LABEL", "msg": msg} if {
	pod_spec
	not input.request.object.metadata.labels["app.kubernetes.io/name"]
	msg := sprintf("%s %s has no app.kubernetes.io/name label", [kind, input.request.object.metadata.name])
}
