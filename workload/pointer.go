package workload

import "strconv"

// ImagePointers returns, for each of o.Containers in order, the JSON
// pointer (RFC 6901) of its image field in the object, for a JSON patch
// that pins it: "/spec/containers/0/image" in a Pod,
// "/spec/template/spec/initContainers/1/image" in a Deployment.
func (o *Object) ImagePointers() []string {
	spec := templatePointer(o.Kind)
	if o.Kind != "Pod" {
		spec += "/spec"
	}
	counts := map[ContainerType]int{}
	out := make([]string, len(o.Containers))
	for i, c := range o.Containers {
		list := "containers"
		switch c.Type {
		case Init:
			list = "initContainers"
		case Ephemeral:
			list = "ephemeralContainers"
		}
		out[i] = spec + "/" + list + "/" + strconv.Itoa(counts[c.Type]) + "/image"
		counts[c.Type]++
	}
	return out
}
