package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadDesignExample(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/design.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	// Spot-check what a decoder that dropped fields or a lookup of the
	// wrong binding would get wrong.
	prod := c.Namespaces[0]
	if got := prod.Match.Labels["env"]; got != "prod" {
		t.Errorf("namespaces[0].match.labels[env] = %q, want prod", got)
	}
	if a := prod.Approval; a == nil || a.Approvers != 2 || a.Expiry.Pending.Duration != 72*time.Hour || a.Expiry.BreakGlass.Duration != time.Hour {
		t.Errorf("namespaces[0].approval = %+v, want 2 approvers, pending 72h, breakGlass 1h", a)
	}
	if got := c.Namespaces[1].Mode; got != ModeWarn {
		t.Errorf("namespaces[1].mode = %q, want warn", got)
	}
	key := c.Trust[0].Signatures.Authorities[0].Key
	if key == nil || key.SecretRef == nil || key.SecretRef.Key != "cosign.pub" {
		t.Errorf("trust[0] release-key = %+v, want secretRef key cosign.pub", key)
	}
	kl := c.Trust[0].Signatures.Authorities[1].Keyless
	if kl == nil || !kl.RequireTlog || kl.SubjectRegExp != `^https://github\.com/example/.+/release\.yml@refs/tags/v.*$` {
		t.Errorf("trust[0] release-keyless = %+v", kl)
	}
	if got := c.Trust[0].Attestations[0].MaxAge.Duration; got != 720*time.Hour {
		t.Errorf("attestations[0].maxAge = %s, want 720h", got)
	}
	if c.Store.URL != "sqlite:///var/lib/shipgate/shipgate.db" || !c.Auth.Kubernetes || !c.Policies.ConfigMaps {
		t.Errorf("store/auth/policies = %+v %+v %+v", c.Store, c.Auth, c.Policies)
	}
	if got := c.Audit.CheckpointEvery; got.Records != 1000 || got.Interval.Duration != time.Minute {
		t.Errorf("audit.checkpointEvery = %+v, want 1000 records, 1m", got)
	}
}

// badFiles maps each file in testdata/bad to the exact error Parse gives.
var badFiles = map[string]string{
	"unknown-field.yaml": `unknown-field.yaml:5: field modee not found in type config.Binding`,
	"bad-mode.yaml":      `bad-mode.yaml:8: namespaces[1].mode: must be one of enforce, warn, audit, got "block"`,
	"several.yaml": `several.yaml:2: apiVersion: must be "shipgate.dev/v1alpha1", got "shipgate.dev/v1alpha2"
several.yaml:6: defaults.trust[0]: no trust policy named "compnay" (known: company)
several.yaml:8: namespaces[0].match.names[0]: invalid glob "prod-[": syntax error in pattern
several.yaml:9: namespaces[0].mode: must be one of enforce, warn, audit, got "Enforce"`,
	"decode-errors.yaml": "decode-errors.yaml:6: cannot unmarshal !!str `two` into int\n" +
		`decode-errors.yaml:7: invalid duration "3days": write a number and a unit (h, m, s, ms), such as "72h" or "1h30m"
decode-errors.yaml:9: field timeoutMarginn not found in type config.Webhook`,
	"two-documents.yaml": `two-documents.yaml:3: a second YAML document starts here: the config must be exactly one document`,
	"syntax.yaml":        `syntax.yaml:4: did not find expected ',' or '}'`,
	"not-a-mapping.yaml": `not-a-mapping.yaml:2: expected a mapping with apiVersion: shipgate.dev/v1alpha1 and kind: GatewayConfig, got a sequence`,
	"empty.yaml":         `empty.yaml: no YAML document: expected a GatewayConfig`,
	"duplicate-key.yaml": `duplicate-key.yaml:5: mapping key "mode" already defined at line 4`,
	"wrong-kind.yaml": `wrong-kind.yaml:1: apiVersion: must be "shipgate.dev/v1alpha1", got "v1"
wrong-kind.yaml:2: kind: must be "GatewayConfig", got "ConfigMap"`,
	"design-verbatim.yaml": `design-verbatim.yaml:40: trust[0].attestations[0].maxAge: maxAge needs trusted time: no authority here has a rekorKey or timestampAuthorities, and a bare key signature carries no time of its own`,
	"attestations.yaml": `attestations.yaml:7: trust[0].attestations[0].predicateType: must not be empty, such as "https://in-toto.io/attestation/test-result/v0.1"
attestations.yaml:8: trust[0].attestations[0].authorities: must list at least one authority
attestations.yaml:16: trust[0].attestations[1].maxAge: maxAge needs trusted time: no authority here has a rekorKey or timestampAuthorities, and a bare key signature carries no time of its own`,
	"approval.yaml": `approval.yaml:6: defaults.approval.approvers: must be at least 1 (0 only with breakGlassGroups and no groups), got 0
approval.yaml:13: namespaces[0].approval.expiry.approved: must be a positive duration such as "24h", got 0s
approval.yaml:13: namespaces[0].approval.expiry.breakGlass: must be a positive duration such as "1h", got 0s`,
	"trust.yaml": `trust.yaml:7: trust[0].signatures.threshold: must be at most 2, the number of signature authorities, got 3
trust.yaml:9: trust[0].signatures.authorities[0]: must set exactly one of key or keyless, got both
trust.yaml:15: trust[0].signatures.authorities[1].name: duplicate authority name "both"
trust.yaml:16: trust[0].signatures.authorities[1].key: must set exactly one of data, file or secretRef, got none
trust.yaml:17: trust[1].name: must not be empty
trust.yaml:17: trust[1].images: must list at least one image pattern, such as "registry.example.com/**"
trust.yaml:18: trust[2].name: duplicate trust policy name "company"
trust.yaml:19: trust[2].images[0]: invalid glob "registry.example.com/[": syntax error in pattern
trust.yaml:19: trust[2].images[1]: must not be empty`,
	"keyless.yaml": `keyless.yaml:9: trust[0].signatures.authorities[0].keyless.roots: required: keyless certificates are checked against explicit roots, never fetched ones
keyless.yaml:9: trust[0].signatures.authorities[0].keyless.issuer: must not be empty, such as "https://token.actions.githubusercontent.com"
keyless.yaml:9: trust[0].signatures.authorities[0].keyless: must set exactly one of subject or subjectRegExp, got neither
keyless.yaml:10: trust[0].signatures.authorities[0].keyless.requireTlog: needs rekorKey: transparency log entries are verified offline against it
keyless.yaml:13: trust[0].signatures.authorities[1].keyless.roots: must set exactly one of data, file or secretRef, got data and file
keyless.yaml:15: trust[0].signatures.authorities[1].keyless.subjectRegExp: invalid regular expression: error parsing regexp: missing closing ): ` + "`^https://github\\.com/(example$`" + `
keyless.yaml:17: trust[0].signatures.authorities[2].keyless: must set exactly one of subject or subjectRegExp, got both
keyless.yaml:18: trust[0].signatures.authorities[2].keyless.roots.secretRef.namespace: invalid namespace name "Shipgate": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')
keyless.yaml:18: trust[0].signatures.authorities[2].keyless.roots.secretRef.key: invalid Secret key "roots pem": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
	"match.yaml": `match.yaml:3: excludedNamespaces[1]: invalid namespace name "Kube_Public": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')
match.yaml:5: defaults.match: not allowed: defaults apply to the namespaces no binding matches
match.yaml:8: namespaces[0].match.names[0]: must not be empty
match.yaml:8: namespaces[0].match.names[1]: invalid glob "team-[a-": syntax error in pattern
match.yaml:10: namespaces[0].match.labels["bad key!"]: invalid label key "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')
match.yaml:11: namespaces[0].match.labels["env"]: invalid label value "not a value!": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')
match.yaml:13: namespaces[0].policies[1]: invalid policy set name "kubernetes-admission": must be a dotted Rego package path below data.shipgate, such as "baseline" or "kubernetes.admission"
match.yaml:13: namespaces[0].policies[2]: invalid policy set name "1st": must be a dotted Rego package path below data.shipgate, such as "baseline" or "kubernetes.admission"`,
	"store-webhook.yaml": `store-webhook.yaml:4: store.url: must start with sqlite://, postgres:// or postgresql://, got scheme "mysql"
store-webhook.yaml:6: audit.checkpointKey: must set exactly one of data, file or secretRef, got none
store-webhook.yaml:7: audit.checkpointEvery.records: must be positive, got -1
store-webhook.yaml:9: webhook.timeoutMargin: must be less than webhook.defaultTimeout (40s), got 45s
store-webhook.yaml:10: webhook.defaultTimeout: must be at most 30s, the API server's limit for admission webhooks, got 40s
store-webhook.yaml:11: webhook.maxInFlight: must be positive, got -3
store-webhook.yaml:13: webhook.controllers["Deploymnt"]: unknown kind "Deploymnt": must be one of CronJob, DaemonSet, Deployment, Job, ReplicaSet, StatefulSet
store-webhook.yaml:14: webhook.controllers["Job"][0]: must not be empty`,
	"sqlite-no-path.yaml": `sqlite-no-path.yaml:3: store.url: sqlite:// needs a file path, such as sqlite:///var/lib/shipgate/shipgate.db`,
	"merge.yaml":          `merge.yaml:12: namespaces[2].mode: must be one of enforce, warn, audit, got "blocking"`,
}

func TestParseBadFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(badFiles) {
		t.Errorf("testdata/bad has %d files, the table %d: every bad file needs its expected error", len(files), len(badFiles))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, ok := badFiles[name]
			if !ok {
				t.Fatalf("no expected error for %s", name)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(name, data)
			if err == nil {
				t.Fatalf("Parse succeeded, want\n%s", want)
			}
			if c != nil {
				t.Errorf("Parse returned a config with its error")
			}
			if got := err.Error(); got != want {
				t.Errorf("Parse error:\n got: %s\nwant: %s", got, want)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != strings.Count(want, "\n")+1 {
				t.Errorf("errors.As(ErrorList) = %d entries, want one per line of\n%s", len(list), want)
			}
		})
	}
}

// TestParseSyntaxLines guards the line fix-up of yaml.v3's parser errors,
// which count lines from 0, against its scanner errors, which do not.
func TestParseSyntaxLines(t *testing.T) {
	t.Parallel()
	head := "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\n"
	tests := map[string]struct {
		body string
		want string
	}{
		"an unclosed flow sequence points at its opening line": {
			body: "excludedNamespaces: [a, b\nnamespaces: []\n",
			want: "f.yaml:3: did not find expected ',' or ']'",
		},
		"a key missing its colon, seen on the next key (a scanner error)": {
			body: "defaults:\n  mode warn\n  trust: []\n",
			want: "f.yaml:5: mapping values are not allowed in this context",
		},
		"a sequence item after mapping keys": {
			body: "namespaces:\n  - match: {}\n  mode: warn\n",
			want: "f.yaml:4: did not find expected '-' indicator",
		},
		"a key indented less than its siblings": {
			body: "defaults:\n  mode: warn\n trust: []\n",
			want: "f.yaml:5: did not find expected key",
		},
		"a tab in indentation": {
			body: "defaults:\n\tmode: warn\n",
			want: "f.yaml:4: found character that cannot start any token",
		},
		"an unclosed flow mapping at the end of the file, no newline": {
			body: "defaults: {mode: warn",
			want: "f.yaml:3: did not find expected ',' or '}'",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("f.yaml", []byte(head+tt.body))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse error = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestParseDoesNotEchoStoreURL(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/bad/store-webhook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("store-webhook.yaml", data)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Parse error = %v, want one that does not repeat the URL's password", err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	t.Run("a missing file is an fs.ErrNotExist", func(t *testing.T) {
		t.Parallel()
		_, err := Load(filepath.Join(t.TempDir(), "gateway.yaml"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "reading config: ") {
			t.Errorf("Load error = %v, want reading config: … fs.ErrNotExist", err)
		}
	})
	t.Run("errors name the path as given", func(t *testing.T) {
		t.Parallel()
		_, err := Load("testdata/bad/bad-mode.yaml")
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Load error %v is not an *Error", err)
		}
		want := Error{File: "testdata/bad/bad-mode.yaml", Line: 8, Path: "namespaces[1].mode", Msg: `must be one of enforce, warn, audit, got "block"`}
		if *e != want {
			t.Errorf("*Error = %+v, want %+v", *e, want)
		}
	})
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  Error
		want string
	}{
		"all parts":            {Error{File: "g.yaml", Line: 3, Path: "kind", Msg: "bad"}, "g.yaml:3: kind: bad"},
		"no line":              {Error{File: "g.yaml", Msg: "empty"}, "g.yaml: empty"},
		"no file, as Validate": {Error{Path: "namespaces[0].mode", Msg: "bad"}, "namespaces[0].mode: bad"},
		"line but no file":     {Error{Line: 7, Msg: "bad"}, "line 7: bad"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLineOf(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/design.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, errs := parseDocument("design.yaml", data)
	if errs != nil {
		t.Fatal(errs)
	}
	tests := map[string]struct {
		path string
		want int
	}{
		"a top-level key":                        {"kind", 4},
		"a key inside a sequence item":           {"namespaces[0].approval.approvers", 16},
		"a quoted map key":                       {`namespaces[0].match.labels["env"]`, 11},
		"a missing key falls back to its parent": {"namespaces[1].approval", 20},
		"an index past the end falls back":       {"namespaces[7].mode", 10},
		"deep in trust":                          {"trust[0].signatures.authorities[1].keyless.rekorKey", 35},
		"the empty path is the document":         {"", 3},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := lineOf(root, tt.path); got != tt.want {
				t.Errorf("lineOf(%q) = %d, want %d", tt.path, got, tt.want)
			}
		})
	}
}
