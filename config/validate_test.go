package config

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// validConfig is a small valid config built in Go, defaulted.
func validConfig() *GatewayConfig {
	c := &GatewayConfig{
		APIVersion: APIVersion,
		Kind:       Kind,
		Defaults:   Binding{Mode: ModeEnforce, Trust: []string{"company"}, Policies: []string{"baseline"}},
		Namespaces: []Binding{{Match: Match{Names: []string{"dev-*"}}, Mode: ModeWarn}},
		Trust: []TrustPolicy{{
			Name:   "company",
			Images: []string{"registry.example.com/**"},
			Signatures: SignatureRequirement{Threshold: 1, Authorities: []Authority{
				{Name: "release", Key: &Source{File: "/etc/shipgate/release.pub"}},
			}},
			Attestations: []AttestationRequirement{{
				PredicateType: "https://in-toto.io/attestation/test-result/v0.1",
				Authorities: []Authority{{Name: "ci", Keyless: &Keyless{
					Roots:         &Source{File: "/etc/shipgate/fulcio.pem"},
					Issuer:        "https://token.actions.githubusercontent.com",
					SubjectRegExp: `^https://github\.com/example/`,
					RekorKey:      &Source{Data: "-----BEGIN PUBLIC KEY-----"},
				}}},
				MaxAge: Duration{720 * time.Hour},
			}},
		}},
	}
	c.ApplyDefaults()
	return c
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		change func(c *GatewayConfig)
		want   []string // "path: msg", in order; none for valid
	}{
		"the base config is valid": {
			change: func(*GatewayConfig) {},
		},
		"break-glass alone needs no approvers": {
			change: func(c *GatewayConfig) {
				c.Namespaces[0].Approval = &ApprovalRule{BreakGlassGroups: []string{"sre"}, Expiry: ApprovalExpiry{BreakGlass: Duration{time.Hour}}}
			},
		},
		"store URLs of each supported scheme": {
			change: func(c *GatewayConfig) { c.Store.URL = "postgresql://shipgate@db/shipgate?sslmode=verify-full" },
		},
		"network hosts for cluster policy": {
			change: func(c *GatewayConfig) { c.Policies.NetworkHosts = []string{"vulndb.internal", "10.0.0.7", "::1"} },
		},
		"network hosts that are not hosts": {
			change: func(c *GatewayConfig) {
				c.Policies.NetworkHosts = []string{"vulndb.internal:443", "https://vulndb.internal", "*.internal", ""}
			},
			want: []string{
				`policies.networkHosts[0]: "vulndb.internal:443" is not a host: give a host name or address without port or scheme, such as vulndb.internal`,
				`policies.networkHosts[1]: "https://vulndb.internal" is not a host: give a host name or address without port or scheme, such as vulndb.internal`,
				`policies.networkHosts[2]: "*.internal" is not a host: give a host name or address without port or scheme, such as vulndb.internal`,
				`policies.networkHosts[3]: "" is not a host: give a host name or address without port or scheme, such as vulndb.internal`,
			},
		},
		"a relative sqlite path": {
			change: func(c *GatewayConfig) { c.Store.URL = "sqlite://shipgate.db" },
		},
		"an empty binding inherits everything": {
			change: func(c *GatewayConfig) { c.Namespaces = append(c.Namespaces, Binding{}) },
		},
		"a secretRef without namespace (the server's own)": {
			change: func(c *GatewayConfig) {
				c.Trust[0].Signatures.Authorities[0].Key = &Source{SecretRef: &SecretRef{Name: "release", Key: "cosign.pub"}}
			},
		},
		"a key-only attestation with maxAge lacks trusted time": {
			change: func(c *GatewayConfig) {
				c.Trust[0].Attestations[0].Authorities[0] = Authority{Name: "ci", Key: &Source{File: "/ci.pub"}}
			},
			want: []string{"trust[0].attestations[0].maxAge: maxAge needs trusted time: no authority here has a rekorKey or timestampAuthorities, and a bare key signature carries no time of its own"},
		},
		"a keyless attestation authority without rekorKey lacks trusted time": {
			change: func(c *GatewayConfig) { c.Trust[0].Attestations[0].Authorities[0].Keyless.RekorKey = nil },
			want:   []string{"trust[0].attestations[0].maxAge: maxAge needs trusted time: no authority here has a rekorKey or timestampAuthorities, and a bare key signature carries no time of its own"},
		},
		"a key attestation authority with a rekorKey has trusted time": {
			change: func(c *GatewayConfig) {
				c.Trust[0].Attestations[0].Authorities[0] = Authority{Name: "ci", Key: &Source{File: "/ci.pub"}, RekorKey: &Source{File: "/rekor.pub"}}
			},
		},
		"a key attestation authority with a timestamp authority has trusted time": {
			change: func(c *GatewayConfig) {
				c.Trust[0].Attestations[0].Authorities[0] = Authority{Name: "ci", Key: &Source{File: "/ci.pub"}, TimestampAuthorities: &Source{File: "/tsa.pem"}}
			},
		},
		"a keyless authority keeps its rekorKey inside keyless": {
			change: func(c *GatewayConfig) {
				c.Trust[0].Attestations[0].Authorities[0].RekorKey = &Source{File: "/rekor.pub"}
			},
			want: []string{"trust[0].attestations[0].authorities[0]: a keyless authority sets rekorKey and requireTlog inside keyless"},
		},
		"requireTlog on a key authority needs its rekorKey": {
			change: func(c *GatewayConfig) { c.Trust[0].Signatures.Authorities[0].RequireTlog = true },
			want:   []string{"trust[0].signatures.authorities[0].requireTlog: needs rekorKey: transparency log entries are verified offline against it"},
		},
		"verification settings out of range": {
			change: func(c *GatewayConfig) {
				n := -1
				c.Verification.Retries = &n
				c.Verification.MaxStale = Duration{-time.Second}
			},
			want: []string{"verification.retries: must be between 0 and 10, got -1", "verification.maxStale: must not be negative, got -1s"},
		},
		"a commit delay past a second": {
			change: func(c *GatewayConfig) { c.Audit.CommitDelay = &Duration{2 * time.Second} },
			want:   []string{"audit.commitDelay: must be between 0s (off) and 1s, got 2s"},
		},
		"a negative commit delay": {
			change: func(c *GatewayConfig) { c.Audit.CommitDelay = &Duration{-time.Millisecond} },
			want:   []string{"audit.commitDelay: must be between 0s (off) and 1s, got -1ms"},
		},
		"a commit delay of 0s turns it off and is fine": {
			change: func(c *GatewayConfig) { c.Audit.CommitDelay = &Duration{} },
		},
		"a key-only attestation without maxAge is fine": {
			change: func(c *GatewayConfig) {
				c.Trust[0].Attestations[0].Authorities[0] = Authority{Name: "ci", Key: &Source{File: "/ci.pub"}}
				c.Trust[0].Attestations[0].MaxAge = Duration{}
			},
		},
		"a negative threshold": {
			change: func(c *GatewayConfig) { c.Trust[0].Signatures.Threshold = -1 },
			want:   []string{"trust[0].signatures.threshold: must not be negative, got -1"},
		},
		"a binding naming a missing trust policy lists the known ones": {
			change: func(c *GatewayConfig) { c.Namespaces[0].Trust = []string{"company", "vendor"} },
			want:   []string{`namespaces[0].trust[1]: no trust policy named "vendor" (known: company)`},
		},
		"approvers with groups but no expiries": {
			change: func(c *GatewayConfig) {
				c.Defaults.Approval = &ApprovalRule{Approvers: 1, Groups: []string{"release"}}
			},
			want: []string{
				`defaults.approval.expiry.pending: must be a positive duration such as "72h", got 0s`,
				`defaults.approval.expiry.approved: must be a positive duration such as "24h", got 0s`,
			},
		},
		"a URL with no scheme is not echoed": {
			change: func(c *GatewayConfig) { c.Store.URL = "user:pass@db/shipgate" },
			want:   []string{"store.url: must start with sqlite://, postgres:// or postgresql://, got no scheme"},
		},
		"load bounds that are not positive": {
			change: func(c *GatewayConfig) {
				c.Webhook.MaxInFlight = -1
				c.Webhook.MaxRequestsPerConnection = -5
			},
			want: []string{
				"webhook.maxInFlight: must be positive, got -1",
				"webhook.maxRequestsPerConnection: must be positive, got -5",
			},
		},
		"a timeout margin as long as the timeout": {
			change: func(c *GatewayConfig) { c.Webhook.TimeoutMargin = Duration{10 * time.Second} },
			want:   []string{"webhook.timeoutMargin: must be less than webhook.defaultTimeout (10s), got 10s"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tt.change(c)
			err := c.Validate()
			var got []string
			var list ErrorList
			if err != nil && !errors.As(err, &list) {
				t.Fatalf("Validate error %v is not an ErrorList", err)
			}
			for _, e := range list {
				if e.File != "" || e.Line != 0 {
					t.Errorf("Validate set File/Line on %v: only the loader knows them", e)
				}
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestValidateWithoutDefaults(t *testing.T) {
	t.Parallel()
	c := &GatewayConfig{APIVersion: APIVersion, Kind: Kind}
	err := c.Validate()
	want := []string{
		`defaults.mode: must be one of enforce, warn, audit, got ""`,
		`audit.checkpointEvery.records: must be positive, got 0`,
		`audit.checkpointEvery.interval: must be a positive duration such as "1m", got 0s`,
		`webhook.timeoutMargin: must be a positive duration such as "500ms", got 0s`,
		`webhook.defaultTimeout: must be a positive duration such as "10s", got 0s`,
		`webhook.maxInFlight: must be positive, got 0`,
		`webhook.maxRequestsPerConnection: must be positive, got 0`,
		`verification.registryTimeout: must be a positive duration such as "5s", got 0s`,
		`verification.cacheTTL: must be a positive duration such as "1h", got 0s`,
		`verification.failureTTL: must be a positive duration such as "10s", got 0s`,
		`verification.cacheSize: must be positive, got 0`,
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Validate() = %v, want an ErrorList", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Validate:\n got %q\nwant %q", got, want)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("after ApplyDefaults, Validate() = %v", err)
	}
}

func TestValidateNilIsUntypedNil(t *testing.T) {
	t.Parallel()
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("Validate() = %#v, want a nil error interface", err)
	}
}
