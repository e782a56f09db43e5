# The cluster's policy set for the benchmark, bound everywhere as
# "baseline" (data.shipgate.baseline): 30 rules over the pod spec of every
# workload kind. It reads only the AdmissionReview, never input.shipgate,
# so the plain OPA peer evaluates exactly what shipgate evaluates.
package shipgate.baseline

kind := input.request.kind.kind

obj := input.request.object

pod_spec := obj.spec if kind == "Pod"

pod_spec := obj.spec.template.spec if {
	kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
}

pod_spec := obj.spec.jobTemplate.spec.template.spec if kind == "CronJob"

containers := object.get(pod_spec, "containers", [])

all_containers := array.concat(containers, object.get(pod_spec, "initContainers", []))

# 1
deny contains sprintf("container %s: no cpu limit", [c.name]) if {
	some c in all_containers
	not c.resources.limits.cpu
}

# 2
deny contains sprintf("container %s: no memory limit", [c.name]) if {
	some c in all_containers
	not c.resources.limits.memory
}

# 3
deny contains sprintf("container %s: no cpu request", [c.name]) if {
	some c in containers
	not c.resources.requests.cpu
}

# 4
deny contains sprintf("container %s: no memory request", [c.name]) if {
	some c in containers
	not c.resources.requests.memory
}

# 5
deny contains sprintf("container %s: privileged", [c.name]) if {
	some c in all_containers
	c.securityContext.privileged == true
}

# 6
deny contains sprintf("container %s: must run as non-root", [c.name]) if {
	some c in all_containers
	not c.securityContext.runAsNonRoot
	not pod_spec.securityContext.runAsNonRoot
}

# 7
deny contains sprintf("container %s: allowPrivilegeEscalation must be false", [c.name]) if {
	some c in all_containers
	not c.securityContext.allowPrivilegeEscalation == false
}

# 8
deny contains sprintf("container %s: must drop ALL capabilities", [c.name]) if {
	some c in all_containers
	not "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])
}

forbidden_caps := {"SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "NET_RAW"}

# 9
deny contains sprintf("container %s: capability %s is forbidden", [c.name, cap]) if {
	some c in all_containers
	some cap in object.get(c, ["securityContext", "capabilities", "add"], [])
	cap in forbidden_caps
}

# 10
deny contains "hostNetwork is forbidden" if pod_spec.hostNetwork == true

# 11
deny contains "hostPID is forbidden" if pod_spec.hostPID == true

# 12
deny contains "hostIPC is forbidden" if pod_spec.hostIPC == true

# 13
deny contains sprintf("volume %s: hostPath is forbidden", [v.name]) if {
	some v in object.get(pod_spec, "volumes", [])
	v.hostPath
}

# 14
deny contains sprintf("container %s: hostPort is forbidden", [c.name]) if {
	some c in containers
	some p in object.get(c, "ports", [])
	p.hostPort
}

# 15
deny contains sprintf("container %s: image %s uses latest", [c.name, c.image]) if {
	some c in all_containers
	endswith(split(c.image, "@")[0], ":latest")
}

# 16
deny contains sprintf("container %s: image %s has no tag", [c.name, c.image]) if {
	some c in all_containers
	parts := split(split(c.image, "@")[0], "/")
	not contains(parts[count(parts) - 1], ":")
}

# 17
deny contains sprintf("container %s: env %s holds a literal secret", [c.name, e.name]) if {
	some c in all_containers
	some e in object.get(c, "env", [])
	is_string(e.value)
	regex.match(`(?i)(password|secret|token)\s*=|AKIA[0-9A-Z]{16}|-----BEGIN`, e.value)
}

# 18
deny contains sprintf("container %s: env name %s suggests a secret; use secretKeyRef", [c.name, e.name]) if {
	some c in all_containers
	some e in object.get(c, "env", [])
	regex.match(`(?i)(PASSWORD|SECRET|TOKEN|API_KEY)$`, e.name)
	not e.valueFrom.secretKeyRef
}

# 19
deny contains sprintf("container %s: memory limit %s is over 8Gi", [c.name, c.resources.limits.memory]) if {
	some c in containers
	units.parse_bytes(c.resources.limits.memory) > (8 * 1024) * 1024 * 1024
}

# 20
deny contains sprintf("container %s: cpu limit %s is over 4 cores", [c.name, c.resources.limits.cpu]) if {
	some c in containers
	units.parse(c.resources.limits.cpu) > 4
}

# 21
deny contains sprintf("container %s: memory request above limit", [c.name]) if {
	some c in containers
	units.parse_bytes(c.resources.requests.memory) > units.parse_bytes(c.resources.limits.memory)
}

# 22
deny contains "automountServiceAccountToken must be false" if {
	pod_spec
	not pod_spec.automountServiceAccountToken == false
}

# 23
deny contains "the default service account must not be used" if {
	pod_spec
	object.get(pod_spec, "serviceAccountName", "default") == "default"
}

# 24
deny contains sprintf("container %s: runAsUser 0 is forbidden", [c.name]) if {
	some c in all_containers
	c.securityContext.runAsUser == 0
}

# 25
deny contains sprintf("container name %s is not a DNS label", [c.name]) if {
	some c in all_containers
	not regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, c.name)
}

# 26
deny contains sprintf("toleration of %s taints is forbidden", [t.key]) if {
	some t in object.get(pod_spec, "tolerations", [])
	t.key in {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}
}

# 27
deny contains "priorityClassName system-* is reserved" if startswith(pod_spec.priorityClassName, "system-")

# 28
deny contains sprintf("volume %s: emptyDir needs a sizeLimit", [v.name]) if {
	some v in object.get(pod_spec, "volumes", [])
	is_object(v.emptyDir)
	not v.emptyDir.sizeLimit
}

# 29
warn contains "terminationGracePeriodSeconds over 120" if pod_spec.terminationGracePeriodSeconds > 120

# 30
warn contains sprintf("container %s: seccompProfile should be RuntimeDefault", [c.name]) if {
	some c in containers
	object.get(c, ["securityContext", "seccompProfile", "type"], object.get(pod_spec, ["securityContext", "seccompProfile", "type"], "")) != "RuntimeDefault"
}
