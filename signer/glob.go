package signer

import (
	"path"
	"strings"
)

// matchGlob reports whether a normalised repository name
// ("registry.example.com/team/app", "index.docker.io/library/nginx") matches
// a trust policy's image pattern. The pattern is split at "/": "**" matches
// any number of segments, zero included; every other segment is a
// path.Match pattern, so "*" never crosses a "/". A pattern written with
// Docker Hub's short host ("docker.io/library/*") matches the normalised
// host "index.docker.io".
func matchGlob(pattern, repo string) bool {
	pattern = normaliseHost(pattern)
	return matchSegments(strings.Split(pattern, "/"), strings.Split(repo, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchSegments(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// normaliseHost spells Docker Hub's host the way go-containerregistry
// normalises references.
func normaliseHost(pattern string) string {
	host, rest, ok := strings.Cut(pattern, "/")
	if !ok {
		return pattern
	}
	if host == "docker.io" || host == "registry-1.docker.io" {
		return "index.docker.io/" + rest
	}
	return pattern
}
