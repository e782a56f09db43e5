# The shop namespace's own policy set for the benchmark, bound to that
# namespace as "shop" (data.shipgate.shop): 15 rules the team adds on top
# of the cluster's. Like baseline, it reads only the AdmissionReview.
package shipgate.shop

kind := input.request.kind.kind

obj := input.request.object

meta := obj.metadata

pod_spec := obj.spec if kind == "Pod"

pod_spec := obj.spec.template.spec if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

pod_meta := obj.metadata if kind == "Pod"

pod_meta := obj.spec.template.metadata if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

containers := object.get(pod_spec, "containers", [])

all_containers := array.concat(containers, object.get(pod_spec, "initContainers", []))

required_labels := {"app.kubernetes.io/name", "app.kubernetes.io/version", "team", "cost-center"}

allowed_repositories := {"shop/checkout", "shop/envoy", "shop/cold"}

# 1
deny contains sprintf("missing label %s", [l]) if {
	some l in required_labels
	not meta.labels[l]
}

# 2
deny contains "pod labels must include app.kubernetes.io/name" if {
	pod_spec
	not pod_meta.labels["app.kubernetes.io/name"]
}

# 3
deny contains "selector must match pod template labels" if {
	kind != "Pod"
	some k, v in obj.spec.selector.matchLabels
	pod_meta.labels[k] != v
}

# 4
deny contains sprintf("container %s: no readiness probe", [c.name]) if {
	some c in containers
	not c.readinessProbe
}

# 5
deny contains sprintf("container %s: no liveness probe", [c.name]) if {
	some c in containers
	not c.livenessProbe
}

# 6
deny contains sprintf("container %s: root filesystem must be read-only", [c.name]) if {
	some c in all_containers
	not c.securityContext.readOnlyRootFilesystem
}

# 7
deny contains sprintf("container %s: image %s is not from the shop's repositories", [c.name, c.image]) if {
	some c in all_containers
	not allowed_image(c.image)
}

allowed_image(ref) if {
	name := split(split(ref, "@")[0], ":")
	some repo in allowed_repositories
	contains(concat(":", array.slice(name, 0, count(name) - 1)), concat("", ["/", repo]))
}

# 8
deny contains sprintf("container %s: imagePullPolicy must be IfNotPresent", [c.name]) if {
	some c in all_containers
	c.imagePullPolicy != "IfNotPresent"
}

# 9
deny contains sprintf("annotation %s must be set", [a]) if {
	kind != "Pod"
	some a in {"owner", "runbook"}
	not meta.annotations[a]
}

# 10
deny contains "runbook annotation must be an https URL" if {
	r := meta.annotations.runbook
	not startswith(r, "https://")
}

# 11
deny contains sprintf("duplicate container port %d", [p]) if {
	ports := [port.containerPort | some c in containers; some port in object.get(c, "ports", [])]
	some p in ports
	count([q | some q in ports; q == p]) > 1
}

# 12
deny contains "a rolling update must not take every pod down" if {
	obj.spec.strategy.rollingUpdate.maxUnavailable == "100%"
}

# 13
deny contains sprintf("team label must be payments, not %s", [meta.labels.team]) if {
	meta.labels.team != "payments"
}

# 14
warn contains sprintf("container %s: no startup probe", [c.name]) if {
	some c in containers
	not c.startupProbe
}

# 15
warn contains "no topologySpreadConstraints" if {
	pod_spec
	count(object.get(pod_spec, "topologySpreadConstraints", [])) == 0
}
