package config

// APIVersion and Kind identify a GatewayConfig document.
const (
	APIVersion = "shipgate.dev/v1alpha1"
	Kind       = "GatewayConfig"
)

// Mode says what a namespace binding does with reasons to refuse a rollout.
type Mode string

// The three modes of a namespace binding.
const (
	// ModeEnforce denies the request.
	ModeEnforce Mode = "enforce"
	// ModeWarn allows it and returns the reasons as warnings kubectl prints.
	ModeWarn Mode = "warn"
	// ModeAudit allows it; the reasons go only to the audit log and logs.
	ModeAudit Mode = "audit"
)

// GatewayConfig is the whole of shipgate's configuration, one YAML file.
type GatewayConfig struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`

	// ExcludedNamespaces are never judged: every request in them is allowed
	// at once. Defaults to DefaultExcludedNamespaces.
	ExcludedNamespaces []string `yaml:"excludedNamespaces,omitempty" json:"excludedNamespaces,omitempty"`
	// Defaults applies to namespaces no binding matches, and fills the fields
	// a matching binding leaves empty.
	Defaults Binding `yaml:"defaults" json:"defaults"`
	// Namespaces are the bindings, tried in order; the first match wins.
	Namespaces []Binding `yaml:"namespaces,omitempty" json:"namespaces,omitempty"`

	Trust    []TrustPolicy `yaml:"trust,omitempty" json:"trust,omitempty"`
	Policies PolicySources `yaml:"policies,omitempty" json:"policies,omitempty"`
	Store    Store         `yaml:"store,omitempty" json:"store,omitempty"`
	Audit    Audit         `yaml:"audit,omitempty" json:"audit,omitempty"`
	Auth     Auth          `yaml:"auth,omitempty" json:"auth,omitempty"`
	Webhook  Webhook       `yaml:"webhook,omitempty" json:"webhook,omitempty"`
	// Verification tunes how images are resolved, verified and cached.
	Verification Verification `yaml:"verification,omitempty" json:"verification,omitempty"`
	// Approvals configures approval notifications.
	Approvals Approvals `yaml:"approvals,omitempty" json:"approvals,omitempty"`

	// resolver is the lookup Compile builds for Resolve and Revision.
	resolver *resolver
}

// Match selects namespaces. Both names and labels must match when both are
// given; an empty Match matches every namespace.
type Match struct {
	// Names are glob patterns (path.Match syntax: "prod-*").
	Names []string `yaml:"names,omitempty" json:"names,omitempty"`
	// Labels must all be present with these exact values.
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Binding ties namespaces to a mode, trust policies, policy sets and an
// approval rule.
//
// In a namespace binding, an empty Mode, Trust, Policies or Approval is
// taken from defaults (see Resolve); the defaults themselves have no Match.
type Binding struct {
	Match Match `yaml:"match,omitempty" json:"match,omitempty"`
	Mode  Mode  `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Trust names trust policies of GatewayConfig.Trust.
	Trust []string `yaml:"trust,omitempty" json:"trust,omitempty"`
	// Policies are policy set names, Rego packages below data.shipgate
	// ("baseline", "kubernetes.admission").
	Policies []string      `yaml:"policies,omitempty" json:"policies,omitempty"`
	Approval *ApprovalRule `yaml:"approval,omitempty" json:"approval,omitempty"`
}

// ApprovalRule asks for distinct people to approve a rollout.
type ApprovalRule struct {
	// Approvers is how many distinct people, never the deployer, must
	// approve; 0 only for a rule that is break-glass alone.
	Approvers        int            `yaml:"approvers" json:"approvers"`
	Groups           []string       `yaml:"groups,omitempty" json:"groups,omitempty"`
	BreakGlassGroups []string       `yaml:"breakGlassGroups,omitempty" json:"breakGlassGroups,omitempty"`
	Expiry           ApprovalExpiry `yaml:"expiry,omitempty" json:"expiry,omitempty"`
}

// ApprovalExpiry bounds how long approval requests and approvals live.
//
// Pending and Approved are required when Approvers > 0, BreakGlass when
// BreakGlassGroups are set; there are no defaults.
type ApprovalExpiry struct {
	Pending    Duration `yaml:"pending,omitempty" json:"pending,omitempty"`
	Approved   Duration `yaml:"approved,omitempty" json:"approved,omitempty"`
	BreakGlass Duration `yaml:"breakGlass,omitempty" json:"breakGlass,omitempty"`
}

// TrustPolicy says who may sign which images.
type TrustPolicy struct {
	Name         string                   `yaml:"name" json:"name"`
	Images       []string                 `yaml:"images" json:"images"`
	Signatures   SignatureRequirement     `yaml:"signatures,omitempty" json:"signatures,omitempty"`
	Attestations []AttestationRequirement `yaml:"attestations,omitempty" json:"attestations,omitempty"`
	// IndexCoversPlatforms says whether a signature or attestation on an
	// image index also covers the platform manifests it lists (cosign sign
	// signs the index a tag names). Default true.
	IndexCoversPlatforms *bool `yaml:"indexCoversPlatforms,omitempty" json:"indexCoversPlatforms,omitempty"`
}

// CoversPlatforms is IndexCoversPlatforms with its default applied.
func (t *TrustPolicy) CoversPlatforms() bool {
	return t.IndexCoversPlatforms == nil || *t.IndexCoversPlatforms
}

// SignatureRequirement is a threshold over signature authorities.
type SignatureRequirement struct {
	// Threshold is how many distinct authorities must have signed; left
	// out (0) with authorities listed, it is 1.
	Threshold   int         `yaml:"threshold,omitempty" json:"threshold,omitempty"`
	Authorities []Authority `yaml:"authorities,omitempty" json:"authorities,omitempty"`
}

// AttestationRequirement names a predicate type every image must carry,
// signed by one of its authorities.
type AttestationRequirement struct {
	PredicateType string      `yaml:"predicateType" json:"predicateType"`
	Authorities   []Authority `yaml:"authorities" json:"authorities"`
	// MaxAge refuses attestations older than this. It needs trusted time,
	// so at least one authority must have a rekorKey (a transparency log
	// entry's integrated time) or timestampAuthorities (RFC 3161).
	MaxAge Duration `yaml:"maxAge,omitempty" json:"maxAge,omitempty"`
}

// Authority is one signer: a public key or a keyless identity.
type Authority struct {
	// Name is required and unique within its list: results and audit
	// records name the authority that signed.
	Name    string   `yaml:"name" json:"name"`
	Key     *Source  `yaml:"key,omitempty" json:"key,omitempty"`
	Keyless *Keyless `yaml:"keyless,omitempty" json:"keyless,omitempty"`
	// RekorKey and RequireTlog are for a key authority what the keyless
	// fields of the same names are for a keyless one: the transparency
	// log's public key, against which a signature's signed entry timestamp
	// is checked offline, and whether an entry is required.
	RekorKey    *Source `yaml:"rekorKey,omitempty" json:"rekorKey,omitempty"`
	RequireTlog bool    `yaml:"requireTlog,omitempty" json:"requireTlog,omitempty"`
	// TimestampAuthorities is a PEM bundle: an RFC 3161 timestamp
	// authority's certificate chain (leaf first, root last). A signature
	// carrying a timestamp from it has trusted time.
	TimestampAuthorities *Source `yaml:"timestampAuthorities,omitempty" json:"timestampAuthorities,omitempty"`
}

// TlogKey is the Rekor key of the authority, wherever it was written.
func (a *Authority) TlogKey() (*Source, bool) {
	if a.Keyless != nil && a.Keyless.RekorKey != nil {
		return a.Keyless.RekorKey, a.Keyless.RequireTlog
	}
	return a.RekorKey, a.RequireTlog
}

// Keyless is a certificate identity checked against explicit roots.
type Keyless struct {
	Roots         *Source `yaml:"roots,omitempty" json:"roots,omitempty"`
	Issuer        string  `yaml:"issuer,omitempty" json:"issuer,omitempty"`
	Subject       string  `yaml:"subject,omitempty" json:"subject,omitempty"`
	SubjectRegExp string  `yaml:"subjectRegExp,omitempty" json:"subjectRegExp,omitempty"`
	RekorKey      *Source `yaml:"rekorKey,omitempty" json:"rekorKey,omitempty"`
	RequireTlog   bool    `yaml:"requireTlog,omitempty" json:"requireTlog,omitempty"`
}

// Source is where a key or a PEM bundle comes from: exactly one of inline
// data, a file, or a Kubernetes Secret.
type Source struct {
	Data      string     `yaml:"data,omitempty" json:"data,omitempty"`
	File      string     `yaml:"file,omitempty" json:"file,omitempty"`
	SecretRef *SecretRef `yaml:"secretRef,omitempty" json:"secretRef,omitempty"`
}

// SecretRef names one key of a Kubernetes Secret.
type SecretRef struct {
	// Namespace defaults to the one shipgate runs in (the server fills it).
	Namespace string `yaml:"namespace" json:"namespace"`
	Name      string `yaml:"name" json:"name"`
	Key       string `yaml:"key" json:"key"`
}

// PolicySources says where Rego policies are loaded from.
type PolicySources struct {
	Directory  string `yaml:"directory,omitempty" json:"directory,omitempty"`
	ConfigMaps bool   `yaml:"configMaps,omitempty" json:"configMaps,omitempty"`
	// NetworkHosts lets cluster policy call http.send and
	// net.lookup_ip_addr, to these hosts only (names or addresses; any
	// port).
	// Empty (the default): no network built-ins, and a module that calls
	// one does not compile. A namespace's own policy never gets them.
	// Read at start; changing it takes a restart.
	NetworkHosts []string `yaml:"networkHosts,omitempty" json:"networkHosts,omitempty"`
}

// Store is the database for audit, approvals and rollout records.
type Store struct {
	// URL is sqlite:///path/to/file.db or postgres://….
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
}

// Audit configures the tamper-evident log.
type Audit struct {
	CheckpointKey   *Source         `yaml:"checkpointKey,omitempty" json:"checkpointKey,omitempty"`
	CheckpointEvery CheckpointEvery `yaml:"checkpointEvery,omitempty" json:"checkpointEvery,omitempty"`
	// DenialWindow folds identical denials (same requester, object and
	// reasons: a controller's retry loop) within it into one record with a
	// count. Default 1m.
	DenialWindow Duration `yaml:"denialWindow,omitempty" json:"denialWindow,omitempty"`
	// CommitDelay is how long, at most, the audit writer holds a batch of
	// records open for more to share its transaction, and only while
	// shipgate is short of CPU (docs/operations.md). Default 5ms; 0s turns
	// it off. Read at start.
	CommitDelay *Duration `yaml:"commitDelay,omitempty" json:"commitDelay,omitempty"`
}

// CheckpointEvery says how often a signed checkpoint is written.
type CheckpointEvery struct {
	Records  int      `yaml:"records,omitempty" json:"records,omitempty"`
	Interval Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
}

// Auth says how API callers are identified and authorised.
type Auth struct {
	Kubernetes bool   `yaml:"kubernetes,omitempty" json:"kubernetes,omitempty"`
	TokenFile  string `yaml:"tokenFile,omitempty" json:"tokenFile,omitempty"`
	RoleFile   string `yaml:"roleFile,omitempty" json:"roleFile,omitempty"`
}

// Webhook tunes the admission endpoints.
type Webhook struct {
	// TimeoutMargin is kept back from the API server's ?timeout= so the
	// answer arrives before it gives up. Default 500ms.
	TimeoutMargin Duration `yaml:"timeoutMargin,omitempty" json:"timeoutMargin,omitempty"`
	// DefaultTimeout applies when a request carries no ?timeout=. Default 10s,
	// the API server's own default for admission webhooks.
	DefaultTimeout Duration `yaml:"defaultTimeout,omitempty" json:"defaultTimeout,omitempty"`
	// MaxInFlight bounds the admissions (/validate and /mutate together)
	// one replica works on at once. Past it a request is answered at once
	// without being judged: refused with status code 429 in an enforced
	// namespace, allowed with a warning in a warn or audit one, allowed
	// unpinned with a warning by /mutate. Default 256.
	MaxInFlight int `yaml:"maxInFlight,omitempty" json:"maxInFlight,omitempty"`
	// MaxRequestsPerConnection is how many requests one client connection
	// carries before shipgate closes it gracefully (an HTTP/2 GOAWAY), so
	// that an API server holding one connection open reconnects and the
	// Service can spread it over the replicas. Default 1000.
	MaxRequestsPerConnection int `yaml:"maxRequestsPerConnection,omitempty" json:"maxRequestsPerConnection,omitempty"`
	// Controllers maps a workload kind to the usernames allowed to create
	// objects that inherit from an owner of that kind. Defaults to
	// kube-controller-manager's service accounts.
	Controllers map[string][]string `yaml:"controllers,omitempty" json:"controllers,omitempty"`
}

// Verification tunes registry access and the verification cache.
type Verification struct {
	// RegistryTimeout bounds each registry call. Default 5s.
	RegistryTimeout Duration `yaml:"registryTimeout,omitempty" json:"registryTimeout,omitempty"`
	// Retries is how many times a 429 or 5xx answer is retried, with
	// backoff, inside the admission's deadline. Default 2.
	Retries *int `yaml:"retries,omitempty" json:"retries,omitempty"`
	// CacheSize bounds the verification cache's memory tier (entries).
	// Successful verifications are also kept in the store, which is read
	// when memory has let one go. Default 10000.
	CacheSize int `yaml:"cacheSize,omitempty" json:"cacheSize,omitempty"`
	// CacheTTL is how long a successful verification is reused, from
	// memory or the store. Default 1h.
	CacheTTL Duration `yaml:"cacheTTL,omitempty" json:"cacheTTL,omitempty"`
	// FailureTTL is how long a failed verification is reused. Default 10s.
	FailureTTL Duration `yaml:"failureTTL,omitempty" json:"failureTTL,omitempty"`
	// MaxStale lets a digest verified within this long be admitted from the
	// store's last-known-good record while its registry cannot be reached,
	// with a warning. 0 (the default) turns last-known-good off.
	MaxStale Duration `yaml:"maxStale,omitempty" json:"maxStale,omitempty"`
	// DockerConfig is a Docker config.json with registry credentials.
	DockerConfig string `yaml:"dockerConfig,omitempty" json:"dockerConfig,omitempty"`
	// PinTemplates makes /mutate pin workload pod templates to digests as
	// well as Pods. Off by default: GitOps tools would see drift.
	PinTemplates bool `yaml:"pinTemplates,omitempty" json:"pinTemplates,omitempty"`
}
