# The demo's cluster policy: images come from the registries the cluster
# uses (data.shipgate.demo.registries, which the demo writes beside this
# file) or are official Docker Hub images. Bound to every namespace by the
# demo's configuration (defaults.policies: [demo]); the trust policy still
# judges every image this lets through.
package shipgate.demo

deny contains msg if {
	some c in input.request.object.spec.template.spec.containers
	not allowed_registry(c.image)
	msg := sprintf("container %q: image %q comes from a registry this cluster does not use", [c.name, c.image])
}

allowed_registry(image) if {
	some registry in data.shipgate.demo.registries
	startswith(image, concat("", [registry, "/"]))
}

# An official image names no registry and no organisation: "redis:7.4".
allowed_registry(image) if not contains(image, "/")
