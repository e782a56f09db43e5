package harness

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// Push pushes a new image of random content (one small layer, so every
// push has a digest of its own) to repoTag in the registry, as crane push
// does, and returns its digest. Pushing to a tag that exists moves it.
func (r *Registry) Push(ctx context.Context, repoTag string) (string, error) {
	img, err := random.Image(256, 1)
	if err != nil {
		return "", fmt.Errorf("making an image for %s: %w", repoTag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("digesting the image for %s: %w", repoTag, err)
	}
	if err := crane.Push(img, r.Ref(repoTag), r.craneOptions(ctx)...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", r.Ref(repoTag), err)
	}
	return d.String(), nil
}

// Tag points another tag of the same repository at what repoTag names
// (crane tag).
func (r *Registry) Tag(ctx context.Context, repoTag, tag string) error {
	if err := crane.Tag(r.Ref(repoTag), tag, r.craneOptions(ctx)...); err != nil {
		return fmt.Errorf("tagging %s as %s: %w", r.Ref(repoTag), tag, err)
	}
	return nil
}

// Digest is the digest repoTag names now (crane digest: one HEAD request).
func (r *Registry) Digest(ctx context.Context, repoTag string) (string, error) {
	d, err := crane.Digest(r.Ref(repoTag), r.craneOptions(ctx)...)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", r.Ref(repoTag), err)
	}
	return d, nil
}

func (r *Registry) craneOptions(ctx context.Context) []crane.Option {
	var auth authn.Authenticator = authn.Anonymous
	if r.Auth != nil {
		auth = &authn.Basic{Username: r.Auth.Username, Password: r.Auth.Password}
	}
	return []crane.Option{crane.WithContext(ctx), crane.WithAuth(auth)}
}
