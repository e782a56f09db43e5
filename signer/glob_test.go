package signer

import "testing"

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, repo string
		want          bool
	}{
		{"registry.example.com/**", "registry.example.com/team/app", true},
		{"registry.example.com/**", "registry.example.com/app", true},
		{"registry.example.com/team/**", "registry.example.com/team/a/b/c", true},
		{"registry.example.com/team/**", "registry.example.com/other/app", false},
		{"registry.example.com/team/*", "registry.example.com/team/app", true},
		{"registry.example.com/team/*", "registry.example.com/team/a/b", false},
		{"docker.io/library/*", "index.docker.io/library/nginx", true},
		{"docker.io/library/*", "index.docker.io/someone/nginx", false},
		{"registry.example.com/**", "registry.example.com.evil.io/app", false},
		{"registry.example.com/**", "evil.io/registry.example.com/app", false},
		{"*.example.com/app", "eu.example.com/app", true},
		{"**/app", "eu.example.com/team/app", true},
		{"registry.example.com/[", "registry.example.com/[", false},
	}
	for _, tt := range tests {
		if got := matchGlob(tt.pattern, tt.repo); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.repo, got, tt.want)
		}
	}
}
