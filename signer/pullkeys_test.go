package signer

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pullSecret is a Secret in namespace "team" holding data under key.
func pullSecret(secretName string, typ corev1.SecretType, key, data string) corev1.Secret {
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: secretName},
		Type:       typ,
		Data:       map[string][]byte{key: []byte(data)},
	}
}

// dockerConfigJSONSecret is a kubernetes.io/dockerconfigjson Secret whose
// "auths" are given by pullAuths.
func dockerConfigJSONSecret(secretName string, registryUser ...string) corev1.Secret {
	return pullSecret(secretName, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":`+pullAuths(registryUser...)+`}`)
}

// dockercfgSecret is a kubernetes.io/dockercfg Secret holding pullAuths.
func dockercfgSecret(secretName string, registryUser ...string) corev1.Secret {
	return pullSecret(secretName, corev1.SecretTypeDockercfg, corev1.DockerConfigKey, pullAuths(registryUser...))
}

// pullAuths is a JSON map from registry key to credentials, given as
// registry, user pairs; each user's password is user + "-pw".
func pullAuths(registryUser ...string) string {
	m := map[string]map[string]string{}
	for i := 0; i+1 < len(registryUser); i += 2 {
		user := registryUser[i+1]
		m[registryUser[i]] = map[string]string{"username": user, "password": user + "-pw"}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// resolvePull returns "user:password" of the credentials kc gives repo, or
// "anonymous" for authn.Anonymous.
func resolvePull(t *testing.T, kc authn.Keychain, repo string) string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.Resolve(r)
	if err != nil {
		t.Fatalf("resolving %s: %v", repo, err)
	}
	if a == authn.Anonymous {
		return "anonymous"
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatalf("authorization for %s: %v", repo, err)
	}
	return cfg.Username + ":" + cfg.Password
}

func TestPullKeychainMatching(t *testing.T) {
	t.Parallel()
	const alice, bob = "alice:alice-pw", "bob:bob-pw"
	tests := map[string]struct {
		secrets []corev1.Secret
		repo    string
		want    string
	}{
		"a dockerconfigjson secret's auths are read": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice")},
			repo:    "r.io/app", want: alice,
		},
		"a dockercfg secret's top-level map is read": {
			secrets: []corev1.Secret{dockercfgSecret("a", "r.io", "alice")},
			repo:    "r.io/app", want: alice,
		},
		"an Opaque secret holding a Docker config is ignored": {
			secrets: []corev1.Secret{pullSecret("a", corev1.SecretTypeOpaque, corev1.DockerConfigJsonKey, `{"auths":`+pullAuths("r.io", "alice")+`}`)},
			repo:    "r.io/app", want: "anonymous",
		},
		"a dockerconfigjson secret's .dockercfg key is ignored": {
			secrets: []corev1.Secret{pullSecret("a", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigKey, pullAuths("r.io", "alice"))},
			repo:    "r.io/app", want: "anonymous",
		},
		"an empty .dockerconfigjson is no credentials, not an error": {
			secrets: []corev1.Secret{pullSecret("a", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, ""), dockercfgSecret("b", "r.io", "bob")},
			repo:    "r.io/app", want: bob,
		},
		"no secrets is anonymous": {
			repo: "r.io/app", want: "anonymous",
		},
		"another registry is anonymous": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice")},
			repo:    "other.io/app", want: "anonymous",
		},
		"a registry whose name only starts like the key is anonymous": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice")},
			repo:    "r.io.evil.com/app", want: "anonymous",
		},
		"a glob label matches one label": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "*.example.com", "alice")},
			repo:    "a.example.com/app", want: alice,
		},
		"a glob label does not match two labels": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "*.example.com", "alice")},
			repo:    "a.b.example.com/app", want: "anonymous",
		},
		"a glob label does not match no label": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "*.example.com", "alice")},
			repo:    "example.com/app", want: "anonymous",
		},
		"a key's port matches the same port": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io:5000", "alice")},
			repo:    "r.io:5000/app", want: alice,
		},
		"a key's port does not match no port": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io:5000", "alice")},
			repo:    "r.io/app", want: "anonymous",
		},
		"a key without a port does not match a port": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice")},
			repo:    "r.io:5000/app", want: "anonymous",
		},
		"a key's path matches the repositories under it": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io/team", "alice")},
			repo:    "r.io/team/app", want: alice,
		},
		"a key's path does not match another path": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io/team", "alice")},
			repo:    "r.io/other/app", want: "anonymous",
		},
		"/v2/ alone stands for the host": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io/v2/", "alice")},
			repo:    "r.io/app", want: alice,
		},
		"/v1/ before a path is dropped, the path kept": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io/v1/team", "alice")},
			repo:    "r.io/team/app", want: alice,
		},
		"/v1/ before a path still limits to that path": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io/v1/team", "alice")},
			repo:    "r.io/other/app", want: "anonymous",
		},
		"https:// is dropped": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "https://r.io", "alice")},
			repo:    "r.io/app", want: alice,
		},
		"http:// is dropped, the port kept": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "http://r.io:5000/", "alice")},
			repo:    "r.io:5000/app", want: alice,
		},
		"docker login's Docker Hub key matches Docker Hub images": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "https://index.docker.io/v1/", "alice")},
			repo:    "nginx", want: alice,
		},
		"a longer key wins over a shorter one in the same secret": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice", "r.io/team", "bob")},
			repo:    "r.io/team/app", want: bob,
		},
		"the shorter key still covers the rest of the host": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice", "r.io/team", "bob")},
			repo:    "r.io/other/app", want: alice,
		},
		"a longer key in a later secret wins over a shorter one in an earlier": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice"), dockercfgSecret("b", "r.io/team", "bob")},
			repo:    "r.io/team/app", want: bob,
		},
		"a named host wins over a glob covering it": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "*.example.com", "alice", "a.example.com", "bob")},
			repo:    "a.example.com/app", want: bob,
		},
		"the first secret wins for the same key": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice"), dockerConfigJSONSecret("b", "r.io", "bob")},
			repo:    "r.io/app", want: alice,
		},
		"the first secret wins over another spelling of its key": {
			secrets: []corev1.Secret{dockercfgSecret("b", "r.io", "bob"), dockerConfigJSONSecret("a", "https://r.io/v2/", "alice")},
			repo:    "r.io/app", want: bob,
		},
		"the first secret wins, the other spelling first": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "https://r.io/v2/", "alice"), dockercfgSecret("b", "r.io", "bob")},
			repo:    "r.io/app", want: alice,
		},
		"a later secret's registry gets that secret's credentials": {
			secrets: []corev1.Secret{dockerConfigJSONSecret("a", "a.io", "alice"), dockerConfigJSONSecret("b", "b.io", "bob")},
			repo:    "b.io/app", want: bob,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			kc, err := pullKeychain(tc.secrets)
			if err != nil {
				t.Fatalf("pullKeychain: %v", err)
			}
			if got := resolvePull(t, pullChain{keys: kc}, tc.repo); got != tc.want {
				t.Errorf("credentials for %s: %q, want %q", tc.repo, got, tc.want)
			}
		})
	}
}

func TestPullKeychainAuthField(t *testing.T) {
	t.Parallel()
	b64 := base64.StdEncoding.EncodeToString
	raw := base64.RawStdEncoding.EncodeToString
	tests := map[string]struct {
		entry string // the JSON credentials of registry r.io
		want  string
	}{
		"padded auth is the username and password": {
			entry: `{"auth":"` + b64([]byte("alice:s3cret")) + `"}`,
			want:  "alice:s3cret",
		},
		"unpadded auth is read too": {
			entry: `{"auth":"` + raw([]byte("alice:s3cret1")) + `"}`, // 13 bytes: padded, it would end "="
			want:  "alice:s3cret1",
		},
		"the password may hold a colon": {
			entry: `{"auth":"` + b64([]byte("alice:s3:cret")) + `"}`,
			want:  "alice:s3:cret",
		},
		"auth wins over username and password, as in the kubelet": {
			entry: `{"username":"bob","password":"bob-pw","auth":"` + b64([]byte("alice:s3cret")) + `"}`,
			want:  "alice:s3cret",
		},
		"without auth, username and password are used": {
			entry: `{"username":"bob","password":"bob-pw"}`,
			want:  "bob:bob-pw",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := pullSecret("a", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths":{"r.io":`+tc.entry+`}}`)
			kc, err := pullKeychain([]corev1.Secret{s})
			if err != nil {
				t.Fatalf("pullKeychain: %v", err)
			}
			if got := resolvePull(t, pullChain{keys: kc}, "r.io/app"); got != tc.want {
				t.Errorf("credentials: %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPullKeychainErrors(t *testing.T) {
	t.Parallel()
	const password = "31415926535"
	tests := map[string]struct {
		secret corev1.Secret
		want   []string // in the error
	}{
		// encoding/json's own message would quote the number.
		"a dockerconfigjson password that is a number": {
			secret: pullSecret("regcred", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey,
				`{"auths":{"r.io":{"username":"alice","password":`+password+`}}}`),
			want: []string{"team/regcred", ".dockerconfigjson", "malformed JSON"},
		},
		"dockercfg that is not JSON": {
			secret: pullSecret("regcred", corev1.SecretTypeDockercfg, corev1.DockerConfigKey,
				`{"r.io":{"username":"alice","password":"`+password+`"`),
			want: []string{"team/regcred", ".dockercfg", "malformed JSON"},
		},
		"auth that is not base64": {
			secret: pullSecret("regcred", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey,
				`{"auths":{"r.io":{"auth":"`+password+`!!"}}}`),
			want: []string{"team/regcred", ".dockerconfigjson", `"r.io"`, "auth"},
		},
		"auth without a colon": {
			secret: pullSecret("regcred", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey,
				`{"auths":{"r.io":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("alice"+password))+`"}}}`),
			want: []string{"team/regcred", ".dockerconfigjson", `"r.io"`, "auth"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A good secret first: the bad one fails the whole keychain.
			kc, err := pullKeychain([]corev1.Secret{dockerConfigJSONSecret("good", "r.io", "bob"), tc.secret})
			if err == nil {
				t.Fatalf("pullKeychain gave a keychain (%v), want an error", kc)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, password) || strings.Contains(msg, password[:4]) {
				t.Errorf("error %q quotes the secret", msg)
			}
			for _, encoded := range []string{base64.StdEncoding.EncodeToString([]byte("alice" + password)), password + "!!"} {
				if strings.Contains(msg, encoded) {
					t.Errorf("error %q quotes the auth field", msg)
				}
			}
		})
	}
}

// TestPullKeychainSpellingsInOneSecret: two spellings of one registry in a
// secret ("r.io", "https://r.io/") resolve the same way at every build, not
// as Go's map order falls.
func TestPullKeychainSpellingsInOneSecret(t *testing.T) {
	t.Parallel()
	secrets := []corev1.Secret{dockerConfigJSONSecret("a", "r.io", "alice", "https://r.io/", "bob")}
	seen := map[string]int{}
	for range 50 {
		kc, err := pullKeychain(secrets)
		if err != nil {
			t.Fatalf("pullKeychain: %v", err)
		}
		seen[resolvePull(t, pullChain{keys: kc}, "r.io/app")]++
	}
	if len(seen) != 1 {
		t.Errorf("50 builds gave %v, want one answer", seen)
	}
}

// candidates lists "user:password" of each credential chain gives repo, in
// the order Verify tries them, up to the first n with none.
func candidates(t *testing.T, chain pullChain, repo string) []string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for n := 0; ; n++ {
		var kc authn.Keychain = chain
		if n > 0 {
			alt, ok := chain.Alternate(r, n)
			if !ok {
				return out
			}
			kc = alt
		}
		got := resolvePull(t, kc, repo)
		if n == 0 && got == "anonymous" {
			return out
		}
		out = append(out, got)
	}
}

// TestPullChainTriesEachCredential: as in the kubelet, every credential
// that matches an image is a candidate: longer keys first, then the
// secrets' order for one key, then shipgate's own; the same credentials
// twice count once.
func TestPullChainTriesEachCredential(t *testing.T) {
	t.Parallel()
	keys, err := pullKeychain([]corev1.Secret{
		dockerConfigJSONSecret("stale", "r.example.com", "alice"),
		pullSecret("rotated", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey,
			`{"auths":{"r.example.com":{"username":"alice","password":"new-pw"},"https://r.example.com/v2/":{"username":"alice","password":"new-pw"}}}`),
		dockerConfigJSONSecret("team", "r.example.com/team", "bob", "q.example.com", "carol"),
		dockerConfigJSONSecret("again", "r.example.com", "alice"),
	})
	if err != nil {
		t.Fatal(err)
	}
	own := basicChain{"robot", "robot-pw"}
	for _, tc := range []struct {
		repo     string
		fallback authn.Keychain
		want     []string
	}{
		{"r.example.com/team/api", nil, []string{"bob:bob-pw", "alice:alice-pw", "alice:new-pw"}},
		{"r.example.com/other/api", nil, []string{"alice:alice-pw", "alice:new-pw"}},
		{"r.example.com/other/api", own, []string{"alice:alice-pw", "alice:new-pw", "robot:robot-pw"}},
		{"r.example.com/other/api", basicChain{"alice", "new-pw"}, []string{"alice:alice-pw", "alice:new-pw"}},
		{"q.example.com/api", own, []string{"carol:carol-pw", "robot:robot-pw"}},
		{"x.example.com/api", own, []string{"robot:robot-pw"}},
		{"x.example.com/api", nil, nil},
	} {
		got := candidates(t, pullChain{keys: keys, fallback: tc.fallback}, tc.repo)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s (fallback %v): candidates %q, want %q", tc.repo, tc.fallback, got, tc.want)
		}
	}
}

// basicChain gives every image one user and password.
type basicChain struct{ user, pass string }

func (k basicChain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}
