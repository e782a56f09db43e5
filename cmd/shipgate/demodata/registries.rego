# The demo's cluster policy: images come from the company registry or are
# official Docker Hub images. Bound to every namespace by the demo's
# configuration (defaults.policies: [demo]).
package shipgate.demo

deny contains msg if {
	some c in input.request.object.spec.template.spec.containers
	not allowed_registry(c.image)
	msg := sprintf("container %q: image %q comes from a registry this cluster does not use", [c.name, c.image])
}

allowed_registry(image) if startswith(image, "registry.example.com/")

# An official image names no registry and no organisation: "redis:7.4".
allowed_registry(image) if not contains(image, "/")
