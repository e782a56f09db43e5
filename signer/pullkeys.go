package signer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
)

// pullKeychain returns the keychain of a pod's pull secrets, in the order given
// (the pod's imagePullSecrets, then its service account's), resolved as the
// kubelet resolves them:
//
//   - a Secret of type kubernetes.io/dockerconfigjson contributes the "auths"
//     of its .dockerconfigjson key, one of type kubernetes.io/dockercfg the
//     top-level map of its .dockercfg key; any other Secret contributes
//     nothing;
//   - a registry key is an optional http:// or https:// scheme (dropped), a
//     host with an optional port, and an optional path, "/v1/" or "/v2/"
//     standing for the host itself;
//   - a key matches an image when the ports are equal, the hosts have as many
//     dot-separated labels and each label matches as a path.Match pattern
//     ("*.example.com" matches "a.example.com", not "a.b.example.com"), and
//     the key's path is a prefix of the image's;
//   - the credentials of every key that matches an image are its
//     candidates, keys in reverse lexical order (a longer key for a host
//     before a shorter one) and, for a key in several secrets, in the
//     secrets' order; the same credentials twice count once. pullChain's
//     Resolve gives the first; Verify tries the others in turn when the
//     registry refuses it (matching, pullChain);
//   - an image no key matches is read anonymously (authn.Anonymous).
//
// A secret holding malformed JSON or an "auth" field that is not
// base64("user:password") is an error naming the secret; the error never
// quotes what the secret holds. A registry key that is not a URL is ignored,
// as the kubelet ignores it.
func pullKeychain(secrets []corev1.Secret) (pullKeys, error) {
	var keys pullKeys
	for i := range secrets {
		s := &secrets[i]
		creds, dataKey, err := pullCredentials(s)
		if err != nil {
			return nil, fmt.Errorf("reading %s of pull secret %s/%s: %w", dataKey, s.Namespace, s.Name, err)
		}
		// Sorted, so two spellings of one key in a secret ("r.io" and
		// "https://r.io") resolve the same way every time.
		for _, raw := range slices.Sorted(maps.Keys(creds)) {
			cfg, err := creds[raw].authConfig()
			if err != nil {
				return nil, fmt.Errorf("reading %s of pull secret %s/%s: registry %q: %w", dataKey, s.Namespace, s.Name, raw, err)
			}
			k, ok := parsePullKey(raw)
			if !ok {
				continue
			}
			k.cfg, k.auth = cfg, authn.FromConfig(cfg)
			keys = append(keys, k)
		}
	}
	slices.SortStableFunc(keys, func(a, b pullKey) int { return strings.Compare(b.key, a.key) })
	return keys, nil
}

// pullCredential is one registry's entry in a Docker config. It is decoded
// without authn.AuthConfig's UnmarshalJSON so that a bad "auth" field can be
// reported with the registry it belongs to.
type pullCredential struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// pullCredentials returns the registry entries of secret s, keyed by
// registry, and the data key they were read from. Each call decodes into
// fresh values, so nothing carries over from one secret to the next.
func pullCredentials(s *corev1.Secret) (map[string]pullCredential, string, error) {
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		b := s.Data[corev1.DockerConfigJsonKey]
		if len(b) == 0 {
			return nil, corev1.DockerConfigJsonKey, nil
		}
		var cfg struct {
			Auths map[string]pullCredential `json:"auths"`
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, corev1.DockerConfigJsonKey, jsonProblem(err)
		}
		return cfg.Auths, corev1.DockerConfigJsonKey, nil
	case corev1.SecretTypeDockercfg:
		b := s.Data[corev1.DockerConfigKey]
		if len(b) == 0 {
			return nil, corev1.DockerConfigKey, nil
		}
		var auths map[string]pullCredential
		if err := json.Unmarshal(b, &auths); err != nil {
			return nil, corev1.DockerConfigKey, jsonProblem(err)
		}
		return auths, corev1.DockerConfigKey, nil
	}
	return nil, "", nil
}

// jsonProblem describes a JSON decoding error by its position only.
// encoding/json's own messages quote the input (the digits of a number put
// where a string belongs, an unexpected character), and the input here is a
// credential, so the error is described rather than wrapped.
func jsonProblem(err error) error {
	var syntax *json.SyntaxError
	var wrongType *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &wrongType):
		where := "the document"
		if wrongType.Field != "" {
			where = wrongType.Field
		}
		return fmt.Errorf("malformed JSON at byte %d: %s should be a JSON %s", wrongType.Offset, where, jsonKind(wrongType.Type))
	}
	return errors.New("malformed JSON")
}

// jsonKind names the JSON value that decodes into a Go value of type t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	}
	return "number"
}

// authConfig returns c as go-containerregistry's AuthConfig. As in the
// kubelet, a non-empty "auth" field is base64("user:password") and sets the
// username and password, overriding any given beside it.
func (c pullCredential) authConfig() (authn.AuthConfig, error) {
	cfg := authn.AuthConfig{
		Username:      c.Username,
		Password:      c.Password,
		IdentityToken: c.IdentityToken,
		RegistryToken: c.RegistryToken,
	}
	if c.Auth == "" {
		return cfg, nil
	}
	user, pass, err := decodeBasicAuth(c.Auth)
	if err != nil {
		return authn.AuthConfig{}, err
	}
	cfg.Username, cfg.Password = user, pass
	return cfg, nil
}

// decodeBasicAuth splits a Docker config "auth" field, base64 with or
// without padding, into username and password. Its errors do not quote
// the field.
func decodeBasicAuth(field string) (user, pass string, err error) {
	enc := base64.RawStdEncoding
	if strings.HasSuffix(strings.TrimSpace(field), "=") {
		enc = base64.StdEncoding
	}
	b, err := enc.DecodeString(field)
	if err != nil {
		var bad base64.CorruptInputError
		if errors.As(err, &bad) {
			return "", "", fmt.Errorf(`decoding "auth": not base64 at byte %d`, int64(bad))
		}
		return "", "", errors.New(`decoding "auth": not base64`)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", errors.New(`decoding "auth": not base64("user:password"), no ":" in it`)
	}
	return user, pass, nil
}

// pullKey is a registry key parsed once, when the keychain is built.
type pullKey struct {
	key    string   // host[:port][/path]: the kubelet's spelling, sorted on
	labels []string // the host's dot-separated labels, each a path.Match pattern
	port   string   // "" when the key names none
	path   string   // "" or starting with "/"
	cfg    authn.AuthConfig
	auth   authn.Authenticator
}

// parsePullKey parses a registry key ("https://registry.example.com/v2/",
// "*.example.com:5000/team"). ok is false for a key that is not a URL.
func parsePullKey(raw string) (k pullKey, ok bool) {
	s := raw
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return pullKey{}, false
	}
	p := u.Path
	if strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v2/") {
		p = p[len("/v2"):]
	}
	if p == "/" {
		p = ""
	}
	host, port := splitPullHost(u.Host)
	return pullKey{key: u.Host + p, labels: strings.Split(host, "."), port: port, path: p}, true
}

// splitPullHost splits "host:port" into host and port, and returns a host
// without a port whole.
func splitPullHost(hostport string) (host, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, ""
	}
	return host, port
}

// pullKeys are the keys pullKeychain builds, sorted in reverse lexical
// order of key; pullChain gives their credentials.
type pullKeys []pullKey

// matching returns up to limit keys that match target (every one when
// limit is 0), in order, with different credentials.
func (ks pullKeys) matching(target authn.Resource, limit int) []pullKey {
	ref := target.String()
	hostport, p := ref, ""
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		hostport, p = ref[:i], ref[i:]
	}
	host, port := splitPullHost(hostport)
	labels := strings.Split(host, ".")
	var out []pullKey
	for _, k := range ks {
		if k.matches(labels, port, p) && !slices.ContainsFunc(out, func(o pullKey) bool { return o.cfg == k.cfg }) {
			if out = append(out, k); len(out) == limit {
				break
			}
		}
	}
	return out
}

// pullChain is the keychain of a pod's pull secrets (keys) and then
// shipgate's own credentials (fallback, nil for none): an image's
// candidates are the credentials of the keys that match it, then the
// fallback's unless anonymous or already among them, as the kubelet adds
// the node's credentials after the pod's. Resolve gives candidate n (the
// first, in the chain PullSecrets builds); Alternate the chain that gives
// another, tried in turn when the registry refuses.
type pullChain struct {
	keys     pullKeys
	fallback authn.Keychain
	n        int
}

var _ Alternates = pullChain{}

// candidate returns target's n-th credentials, or false when it has
// fewer.
func (c pullChain) candidate(target authn.Resource, n int) (authn.Authenticator, bool, error) {
	m := c.keys.matching(target, n+1) // fewer than n+1: every match
	if n < len(m) {
		return m[n].auth, true, nil
	}
	if c.fallback == nil || n > len(m) {
		return nil, false, nil
	}
	a, err := c.fallback.Resolve(target)
	if err != nil || a == authn.Anonymous {
		return nil, false, err
	}
	if cfg, err := a.Authorization(); err == nil && slices.ContainsFunc(m, func(k pullKey) bool { return k.cfg == *cfg }) {
		return nil, false, nil
	}
	return a, true, nil
}

// Resolve returns target's n-th credentials, or authn.Anonymous when it
// has fewer.
func (c pullChain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	a, ok, err := c.candidate(target, c.n)
	if err != nil || !ok {
		return authn.Anonymous, err
	}
	return a, nil
}

// Alternate returns the chain that gives each image its n-th credentials,
// and whether target has any.
func (c pullChain) Alternate(target authn.Resource, n int) (authn.Keychain, bool) {
	if _, ok, err := c.candidate(target, n); err != nil || !ok {
		return nil, false
	}
	c.n = n
	return c, true
}

// matches reports whether k covers an image on the host of labels and
// port, at path p.
func (k pullKey) matches(labels []string, port, p string) bool {
	if k.port != port || len(k.labels) != len(labels) || !strings.HasPrefix(p, k.path) {
		return false
	}
	for i, pattern := range k.labels {
		if ok, err := path.Match(pattern, labels[i]); err != nil || !ok {
			return false
		}
	}
	return true
}
