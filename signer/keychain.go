package signer

import (
	"fmt"
	"os"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// DockerConfigKeychain reads registry credentials from a Docker
// config.json at path (the "auths" section; credential helpers are not
// run). The file is read at each lookup, so rotated credentials are picked
// up; a registry it does not name is accessed anonymously.
func DockerConfigKeychain(path string) authn.Keychain {
	return dockerConfig(path)
}

type dockerConfig string

func (p dockerConfig) Resolve(target authn.Resource) (authn.Authenticator, error) {
	f, err := os.Open(string(p))
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials: %w", err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials from %s: %w", string(p), err)
	}
	var empty types.AuthConfig
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		ac, ok := cf.AuthConfigs[key]
		if !ok {
			continue
		}
		ac.ServerAddress = ""
		if ac == empty {
			continue
		}
		return authn.FromConfig(authn.AuthConfig{
			Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
			IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
		}), nil
	}
	return authn.Anonymous, nil
}
