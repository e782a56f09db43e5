package webhook

import (
	"strconv"

	"github.com/shipgate/shipgate/workload"
)

// floor applies the rules no Rego policy can lift, to each container that
// is being judged: a parseable reference, and a tag other than latest.
// The tag is judged as written, so "app:latest@sha256:…" is still latest.
func floor(d *Decision, containers []workload.Container) {
	for _, c := range containers {
		img, err := workload.ParseImage(c.Image)
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
