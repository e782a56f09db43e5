# A small policy set for the tests of `shipgate policy eval`.
package shipgate.shop

containers := input.request.object.spec.template.spec.containers

deny contains {"code": "SHOP-LIMITS", "msg": msg} if {
	some c in containers
	not c.resources.limits.memory
	msg := sprintf("container %s has no memory limit", [c.name])
}

deny contains "replicas must be at least 2" if {
	input.request.object.spec.replicas < 2
}

warn contains msg if {
	some img in input.shipgate.images
	not img.verified
	msg := sprintf("image %s is not verified", [img.ref])
}

require_approval := {"approvers": 2, "groups": ["release-managers"], "reason": "images change"} if {
	input.shipgate.workload.imagesChanged
}
