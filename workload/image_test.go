package workload

import (
	"strings"
	"testing"
)

const testDigest = "sha256:6a1f0c2e8b4d4a59bb7e2f9d1c3e5a776a1f0c2e8b4d4a59bb7e2f9d1c3e5a77"

func TestParseImage(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ref        string
		want       Image
		name       string
		normalized string
		latest     bool
	}{
		"a bare Docker Hub name gets index.docker.io and library/ but no tag": {
			ref:        "nginx",
			want:       Image{Ref: "nginx", Registry: "index.docker.io", Repository: "library/nginx"},
			name:       "index.docker.io/library/nginx",
			normalized: "index.docker.io/library/nginx",
			latest:     true,
		},
		"a tag is kept as written": {
			ref:        "nginx:1.27",
			want:       Image{Ref: "nginx:1.27", Registry: "index.docker.io", Repository: "library/nginx", Tag: "1.27"},
			name:       "index.docker.io/library/nginx",
			normalized: "index.docker.io/library/nginx:1.27",
		},
		"docker.io is normalised to index.docker.io": {
			ref:        "docker.io/library/nginx",
			want:       Image{Ref: "docker.io/library/nginx", Registry: "index.docker.io", Repository: "library/nginx"},
			name:       "index.docker.io/library/nginx",
			normalized: "index.docker.io/library/nginx",
			latest:     true,
		},
		"index.docker.io gets library/ too": {
			ref:        "index.docker.io/nginx:1.27",
			want:       Image{Ref: "index.docker.io/nginx:1.27", Registry: "index.docker.io", Repository: "library/nginx", Tag: "1.27"},
			name:       "index.docker.io/library/nginx",
			normalized: "index.docker.io/library/nginx:1.27",
		},
		"a registry port is not a tag": {
			ref:        "localhost:5000/app:v1",
			want:       Image{Ref: "localhost:5000/app:v1", Registry: "localhost:5000", Repository: "app", Tag: "v1"},
			name:       "localhost:5000/app",
			normalized: "localhost:5000/app:v1",
		},
		"a registry port without a tag has no tag": {
			ref:        "localhost:5000/app",
			want:       Image{Ref: "localhost:5000/app", Registry: "localhost:5000", Repository: "app"},
			name:       "localhost:5000/app",
			normalized: "localhost:5000/app",
			latest:     true,
		},
		"a digest alone is pinned, not latest": {
			ref:        "registry.example.com/team/app@" + testDigest,
			want:       Image{Ref: "registry.example.com/team/app@" + testDigest, Registry: "registry.example.com", Repository: "team/app", Digest: testDigest},
			name:       "registry.example.com/team/app",
			normalized: "registry.example.com/team/app@" + testDigest,
		},
		"latest beside a digest is still latest": {
			ref:        "app:latest@" + testDigest,
			want:       Image{Ref: "app:latest@" + testDigest, Registry: "index.docker.io", Repository: "library/app", Tag: "latest", Digest: testDigest},
			name:       "index.docker.io/library/app",
			normalized: "index.docker.io/library/app:latest@" + testDigest,
			latest:     true,
		},
		"a tag beside a digest keeps both": {
			ref:        "registry.example.com/team/app:1.0@" + testDigest,
			want:       Image{Ref: "registry.example.com/team/app:1.0@" + testDigest, Registry: "registry.example.com", Repository: "team/app", Tag: "1.0", Digest: testDigest},
			name:       "registry.example.com/team/app",
			normalized: "registry.example.com/team/app:1.0@" + testDigest,
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			got, err := ParseImage(tt.ref)
			if err != nil {
				t.Fatalf("ParseImage(%q): %v", tt.ref, err)
			}
			if got != tt.want {
				t.Errorf("ParseImage(%q) = %+v, want %+v", tt.ref, got, tt.want)
			}
			if got.Name() != tt.name {
				t.Errorf("Name() = %q, want %q", got.Name(), tt.name)
			}
			if got.Normalized() != tt.normalized {
				t.Errorf("Normalized() = %q, want %q", got.Normalized(), tt.normalized)
			}
			if got.IsLatest() != tt.latest {
				t.Errorf("IsLatest() = %v, want %v", got.IsLatest(), tt.latest)
			}
		})
	}
}

func TestParseImageErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ref  string
		want string // the whole message, so the parser's reason is checked
	}{
		"an empty reference is refused": {
			ref:  "",
			want: `parsing image "": empty image reference`,
		},
		"an upper-case repository is refused with the parser's reason": {
			ref:  "UPPER/x",
			want: "parsing image \"UPPER/x\": repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`: UPPER/x",
		},
		"a colon without a tag is refused": {
			ref:  "nginx:",
			want: `parsing image "nginx:": nginx: must specify a tag name after the colon`,
		},
		"a malformed digest is refused": {
			ref:  "app@sha256:abc",
			want: `parsing image "app@sha256:abc": invalid checksum digest length: sha256:abc`,
		},
		"two digests are refused": {
			ref:  "app@" + testDigest + "@" + testDigest,
			want: `parsing image "app@` + testDigest + "@" + testDigest + `": a digest must contain exactly one '@' separator (e.g. registry/repository@digest) saw: app@` + testDigest + "@" + testDigest,
		},
		"an invalid tag beside a digest is refused": {
			ref:  "app:v1$@" + testDigest,
			want: "parsing image \"app:v1$@" + testDigest + "\": repository can only contain",
		},
	}
	for desc, tt := range tests {
		t.Run(desc, func(t *testing.T) {
			t.Parallel()
			got, err := ParseImage(tt.ref)
			if err == nil {
				t.Fatalf("ParseImage(%q) = %+v, want an error", tt.ref, got)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("ParseImage(%q) error = %q, want %q", tt.ref, err, tt.want)
			}
		})
	}
}
