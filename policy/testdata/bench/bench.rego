# A realistic policy set of 50 rules for BenchmarkEvaluate: checks over
# containers, labels, resources, probes, images and security context of one
# Deployment admission. Bound as "bench".
package shipgate.bench

spec := input.request.object.spec.template.spec

meta := input.request.object.metadata

pod_meta := input.request.object.spec.template.metadata

containers := spec.containers

all_containers := array.concat(containers, object.get(spec, "initContainers", []))

required_labels := {"app.kubernetes.io/name", "app.kubernetes.io/version", "team", "cost-center"}

# 1
deny contains sprintf("missing label %s", [l]) if {
	some l in required_labels
	not meta.labels[l]
}

# 2
deny contains "pod template labels must include app.kubernetes.io/name" if not pod_meta.labels["app.kubernetes.io/name"]

# 3
deny contains "selector must match pod template labels" if {
	some k, v in input.request.object.spec.selector.matchLabels
	pod_meta.labels[k] != v
}

# 4
deny contains sprintf("container %s: no cpu limit", [c.name]) if {
	some c in all_containers
	not c.resources.limits.cpu
}

# 5
deny contains sprintf("container %s: no memory limit", [c.name]) if {
	some c in all_containers
	not c.resources.limits.memory
}

# 6
deny contains sprintf("container %s: no cpu request", [c.name]) if {
	some c in containers
	not c.resources.requests.cpu
}

# 7
deny contains sprintf("container %s: no memory request", [c.name]) if {
	some c in containers
	not c.resources.requests.memory
}

# 8
deny contains sprintf("container %s: no readiness probe", [c.name]) if {
	some c in containers
	not c.readinessProbe
}

# 9
deny contains sprintf("container %s: no liveness probe", [c.name]) if {
	some c in containers
	not c.livenessProbe
}

# 10
deny contains sprintf("container %s: privileged", [c.name]) if {
	some c in all_containers
	c.securityContext.privileged == true
}

# 11
deny contains sprintf("container %s: must run as non-root", [c.name]) if {
	some c in all_containers
	not c.securityContext.runAsNonRoot
	not spec.securityContext.runAsNonRoot
}

# 12
deny contains sprintf("container %s: allowPrivilegeEscalation must be false", [c.name]) if {
	some c in all_containers
	not c.securityContext.allowPrivilegeEscalation == false
}

# 13
deny contains sprintf("container %s: root filesystem must be read-only", [c.name]) if {
	some c in containers
	not c.securityContext.readOnlyRootFilesystem
}

# 14
deny contains sprintf("container %s: must drop ALL capabilities", [c.name]) if {
	some c in all_containers
	not "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])
}

forbidden_caps := {"SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "NET_RAW"}

# 15
deny contains sprintf("container %s: capability %s is forbidden", [c.name, cap]) if {
	some c in all_containers
	some cap in object.get(c, ["securityContext", "capabilities", "add"], [])
	cap in forbidden_caps
}

# 16
deny contains "hostNetwork is forbidden" if spec.hostNetwork == true

# 17
deny contains "hostPID is forbidden" if spec.hostPID == true

# 18
deny contains "hostIPC is forbidden" if spec.hostIPC == true

# 19
deny contains sprintf("volume %s: hostPath is forbidden", [v.name]) if {
	some v in object.get(spec, "volumes", [])
	v.hostPath
}

# 20
deny contains sprintf("container %s: hostPort is forbidden", [c.name]) if {
	some c in containers
	some p in object.get(c, "ports", [])
	p.hostPort
}

allowed_registries := ["registry.example.com/", "ghcr.io/example/"]

# 21
deny contains sprintf("container %s: image %s is from an unapproved registry", [c.name, c.image]) if {
	some c in all_containers
	not startswith_any(c.image, allowed_registries)
}

startswith_any(s, prefixes) if {
	some p in prefixes
	startswith(s, p)
}

# 22
deny contains sprintf("container %s: image %s uses latest", [c.name, c.image]) if {
	some c in all_containers
	endswith(split(c.image, "@")[0], ":latest")
}

# 23
deny contains sprintf("container %s: image %s has no tag", [c.name, c.image]) if {
	some c in all_containers
	parts := split(split(c.image, "@")[0], "/")
	not contains(parts[count(parts) - 1], ":")
}

# 24
deny contains sprintf("container %s: imagePullPolicy must be IfNotPresent", [c.name]) if {
	some c in containers
	c.imagePullPolicy != "IfNotPresent"
}

# 25
deny contains sprintf("image %s is not verified", [img.ref]) if {
	some img in input.shipgate.images
	not img.verified
}

# 26
deny contains sprintf("image %s has no passing test attestation", [img.ref]) if {
	some img in input.shipgate.images
	not passed(img)
}

passed(img) if {
	some a in img.attestations
	a.predicateType == "https://in-toto.io/attestation/test-result/v0.1"
	a.predicate.result == "PASSED"
}

# 27
deny contains sprintf("image %s has no digest", [img.ref]) if {
	some img in input.shipgate.images
	not startswith(img.digest, "sha256:")
}

# 28
deny contains sprintf("container %s: env %s holds a literal secret", [c.name, e.name]) if {
	some c in all_containers
	some e in object.get(c, "env", [])
	is_string(e.value)
	regex.match(`(?i)(password|secret|token)\s*=|AKIA[0-9A-Z]{16}|-----BEGIN`, e.value)
}

# 29
deny contains sprintf("container %s: env name %s suggests a secret; use secretKeyRef", [c.name, e.name]) if {
	some c in containers
	some e in object.get(c, "env", [])
	regex.match(`(?i)(PASSWORD|SECRET|TOKEN|API_KEY)$`, e.name)
	not e.valueFrom.secretKeyRef
}

# 30
deny contains sprintf("container %s: memory limit %s is over 8Gi", [c.name, c.resources.limits.memory]) if {
	some c in containers
	units.parse_bytes(c.resources.limits.memory) > 8 * 1024 * 1024 * 1024
}

# 31
deny contains sprintf("container %s: cpu limit %s is over 4 cores", [c.name, c.resources.limits.cpu]) if {
	some c in containers
	units.parse(c.resources.limits.cpu) > 4
}

# 32
deny contains sprintf("container %s: memory request above limit", [c.name]) if {
	some c in containers
	units.parse_bytes(c.resources.requests.memory) > units.parse_bytes(c.resources.limits.memory)
}

# 33
deny contains "replicas must be at least 2 in production" if {
	input.shipgate.namespace.labels.env == "prod"
	input.request.object.spec.replicas < 2
}

# 34
deny contains "automountServiceAccountToken must be false" if not spec.automountServiceAccountToken == false

# 35
deny contains "the default service account must not be used" if {
	object.get(spec, "serviceAccountName", "default") == "default"
}

# 36
deny contains sprintf("container %s: seccompProfile must be RuntimeDefault", [c.name]) if {
	some c in containers
	object.get(c, ["securityContext", "seccompProfile", "type"], object.get(spec, ["securityContext", "seccompProfile", "type"], "")) != "RuntimeDefault"
}

# 37
deny contains sprintf("container %s: runAsUser 0 is forbidden", [c.name]) if {
	some c in all_containers
	c.securityContext.runAsUser == 0
}

# 38
deny contains sprintf("container name %s is not a DNS label", [c.name]) if {
	some c in all_containers
	not regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, c.name)
}

# 39
deny contains sprintf("duplicate container port %d", [p]) if {
	ports := [port.containerPort | some c in containers; some port in object.get(c, "ports", [])]
	some p in ports
	count([q | some q in ports; q == p]) > 1
}

# 40
deny contains "a rolling update must not take every pod down" if {
	input.request.object.spec.strategy.rollingUpdate.maxUnavailable == "100%"
}

# 41
deny contains sprintf("annotation %s must be set", [a]) if {
	some a in {"owner", "runbook"}
	not meta.annotations[a]
}

# 42
deny contains "runbook annotation must be an https URL" if {
	r := meta.annotations.runbook
	not startswith(r, "https://")
}

# 43
deny contains sprintf("toleration of %s taints is forbidden", [t.key]) if {
	some t in object.get(spec, "tolerations", [])
	t.key in {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}
}

# 44
deny contains "priorityClassName system-* is reserved" if startswith(spec.priorityClassName, "system-")

# 45
deny contains sprintf("volume %s: emptyDir needs a sizeLimit", [v.name]) if {
	some v in object.get(spec, "volumes", [])
	is_object(v.emptyDir)
	not v.emptyDir.sizeLimit
}

# 46
warn contains sprintf("container %s: no startup probe", [c.name]) if {
	some c in containers
	not c.startupProbe
}

# 47
warn contains "no topologySpreadConstraints" if count(object.get(spec, "topologySpreadConstraints", [])) == 0

# 48
warn contains "terminationGracePeriodSeconds over 120" if spec.terminationGracePeriodSeconds > 120

# 49
warn contains sprintf("image %s: verification error: %s", [img.ref, e]) if {
	some img in input.shipgate.images
	some e in img.errors
}

# 50
require_approval := {"approvers": 2, "groups": ["release-managers"], "reason": "images changed"} if {
	input.shipgate.workload.imagesChanged
}
