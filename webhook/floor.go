package webhook

import (
	"strconv"

	"github.com/shipgate/shipgate/workload"
)

// floor applies the rules no Rego policy can lift, to each container that
// is being judged: a parseable reference, and a tag other than latest.
// The tag is judged as written, so "app:latest@sha256:…" is still latest.
// Each distinct reference is parsed once: pods name the same image in
// several containers.
func floor(d *Decision, containers []workload.Container) {
	type parsed struct {
		img workload.Image
		err error
	}
	seen := make(map[string]parsed, len(containers))
	for _, c := range containers {
		p, ok := seen[c.Image]
		if !ok {
			p.img, p.err = workload.ParseImage(c.Image)
			seen[c.Image] = p
		}
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
