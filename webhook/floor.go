package webhook

import (
	"strconv"

	"github.com/shipgate/shipgate/workload"
)

// parsedImage is one reference parsed, or why it does not parse.
type parsedImage struct {
	img workload.Image
	err error
}

// parsedImages parses each distinct reference once: pods name the same
// image in several containers, and policy facts need them too.
type parsedImages map[string]parsedImage

func (m parsedImages) get(ref string) parsedImage {
	p, ok := m[ref]
	if !ok {
		p.img, p.err = workload.ParseImage(ref)
		m[ref] = p
	}
	return p
}

// floor applies the rules no Rego policy can lift, to each container that
// is being judged: a parseable reference, and a tag other than latest.
// The tag is judged as written, so "app:latest@sha256:…" is still latest.
func floor(d *Decision, containers []workload.Container, images parsedImages) {
	for _, c := range containers {
		p := images.get(c.Image)
		img, err := p.img, p.err
		switch {
		case err != nil:
			d.Reasons = append(d.Reasons, Reason{
				Code:    "invalid-image",
				Message: containerLabel(c) + ": " + err.Error(),
			})
		case img.Tag == "latest":
			d.Reasons = append(d.Reasons, Reason{
				Code:    "latest-tag",
				Message: containerLabel(c) + " image " + quote(c.Image) + " uses the tag latest; pin a version tag or a digest",
			})
		case img.IsLatest():
			d.Reasons = append(d.Reasons, Reason{
				Code:    "latest-tag",
				Message: containerLabel(c) + " image " + quote(c.Image) + " has no tag or digest, which means latest; pin a version tag or a digest",
			})
		}
	}
}

func quote(s string) string { return strconv.Quote(s) }
