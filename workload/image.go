package workload

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Image is a container image reference, normalised the way the container
// runtime resolves it, with the tag kept exactly as written.
type Image struct {
	// Ref is the reference as written in the pod spec.
	Ref string
	// Registry is the registry host, normalised: "index.docker.io" for
	// Docker Hub whether written as "docker.io" or left out.
	Registry string
	// Repository is the repository path within the registry, with Docker
	// Hub's implicit "library/" namespace added: "library/nginx".
	Repository string
	// Tag is the tag as written: "" when none was written. It is never
	// defaulted to "latest"; IsLatest says what an empty tag means.
	Tag string
	// Digest is the digest as written ("sha256:…"), or "".
	Digest string
}

// errEmptyImage is the reason an empty reference is refused.
var errEmptyImage = errors.New("empty image reference")

// ParseImage parses an image reference as written in a pod spec. Registry
// and repository are normalised by go-containerregistry without strict
// validation (Docker Hub and "library/" are implied), but tag and digest are
// kept as written: "app:latest@sha256:…" has Tag "latest" and that Digest,
// "nginx" has neither. The error carries the parser's reason.
func ParseImage(ref string) (Image, error) {
	if ref == "" {
		return Image{}, fmt.Errorf("parsing image %q: %w", ref, errEmptyImage)
	}
	img := Image{Ref: ref}
	var repo name.Repository
	base := ref
	if strings.Contains(ref, "@") {
		d, err := name.NewDigest(ref, name.WeakValidation)
		if err != nil {
			return Image{}, fmt.Errorf("parsing image %q: %w", ref, err)
		}
		repo, img.Digest = d.Repository, d.DigestStr()
		base = ref[:strings.IndexByte(ref, '@')]
	}
	// An empty default tag leaves TagStr empty when no tag was written.
	t, err := name.NewTag(base, name.WeakValidation, name.WithDefaultTag(""))
	if err != nil {
		return Image{}, fmt.Errorf("parsing image %q: %w", ref, err)
	}
	if img.Digest == "" {
		repo = t.Repository
	}
	img.Tag = t.TagStr()
	img.Registry = repo.RegistryStr()
	img.Repository = repo.RepositoryStr()
	return img, nil
}

// Name is the normalised repository: "index.docker.io/library/nginx".
func (i Image) Name() string {
	return i.Registry + "/" + i.Repository
}

// Normalized is the normalised reference: Name, then ":tag" when a tag was
// written, then "@digest" when a digest was written; a reference with both
// keeps both. It parses back to the same Name, Tag and Digest.
func (i Image) Normalized() string {
	s := i.Name()
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// IsLatest reports whether the reference means "latest": the tag "latest" as
// written (even beside a digest), or neither a tag nor a digest, which the
// runtime resolves as "latest".
func (i Image) IsLatest() bool {
	return i.Tag == "latest" || (i.Tag == "" && i.Digest == "")
}
