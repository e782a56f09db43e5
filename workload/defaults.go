package workload

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The API server's defaults that CanonicalTemplate clears, with the values
// k8s.io/api does not name as constants.
const (
	defaultGracePeriod     = 30 // corev1.DefaultTerminationGracePeriodSeconds
	defaultServiceAccount  = "default"
	defaultFileMode        = 0o644   // 420: configMap, secret, downwardAPI, projected
	defaultTokenExpiration = 60 * 60 // serviceAccountToken expirationSeconds: an hour
	defaultProbeTimeout    = 1
	defaultProbePeriod     = 10
	defaultProbeSuccess    = 1
	defaultProbeFailure    = 3
	defaultFieldAPIVersion = "v1"
	defaultHTTPPath        = "/"
	milliScale             = resource.Milli // SetDefaults_ResourceList rounds up to it
	defaultRBDPool         = "rbd"
	defaultRBDUser         = "admin"
	defaultRBDKeyring      = "/etc/ceph/keyring"
	defaultISCSIInterface  = "default"
	defaultAzureDiskFSType = "ext4"
	defaultScaleIOMode     = "ThinProvisioned"
	defaultScaleIOFSType   = "xfs"
)

// canonicalSpec clears the pod spec fields that hold the API server's
// default; see CanonicalTemplate for the list.
func canonicalSpec(s *corev1.PodSpec) {
	if s.RestartPolicy == corev1.RestartPolicyAlways {
		s.RestartPolicy = ""
	}
	if s.DNSPolicy == corev1.DNSClusterFirst {
		s.DNSPolicy = ""
	}
	if s.SchedulerName == corev1.DefaultSchedulerName {
		s.SchedulerName = ""
	}
	if p := s.TerminationGracePeriodSeconds; p != nil && *p == defaultGracePeriod {
		s.TerminationGracePeriodSeconds = nil
	}
	if s.SecurityContext != nil && equality.Semantic.DeepEqual(*s.SecurityContext, corev1.PodSecurityContext{}) {
		s.SecurityContext = nil
	}
	if s.ServiceAccountName == "" {
		s.ServiceAccountName = s.DeprecatedServiceAccount
	}
	s.DeprecatedServiceAccount = ""
	if s.ServiceAccountName == defaultServiceAccount {
		s.ServiceAccountName = ""
	}
	if s.Resources != nil {
		roundUp(s.Resources.Limits)
		roundUp(s.Resources.Requests)
	}
	roundUp(s.Overhead)
	for i := range s.Volumes {
		canonicalVolume(&s.Volumes[i])
	}
	for i := range s.InitContainers {
		canonicalContainer(&s.InitContainers[i], s.HostNetwork)
	}
	for i := range s.Containers {
		canonicalContainer(&s.Containers[i], s.HostNetwork)
	}
	for i := range s.EphemeralContainers {
		// EphemeralContainerCommon has Container's fields, which is how the
		// API server defaults it too.
		canonicalContainer((*corev1.Container)(&s.EphemeralContainers[i].EphemeralContainerCommon), false)
	}
}

// canonicalContainer clears a container's defaulted fields.
func canonicalContainer(c *corev1.Container, hostNetwork bool) {
	c.ImagePullPolicy = ""
	if c.TerminationMessagePath == corev1.TerminationMessagePathDefault {
		c.TerminationMessagePath = ""
	}
	if c.TerminationMessagePolicy == corev1.TerminationMessageReadFile {
		c.TerminationMessagePolicy = ""
	}
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.Protocol == corev1.ProtocolTCP {
			p.Protocol = ""
		}
		if hostNetwork && p.HostPort == p.ContainerPort {
			p.HostPort = 0
		}
	}
	for i := range c.Env {
		canonicalEnvSource(c.Env[i].ValueFrom)
	}
	canonicalResources(&c.Resources)
	canonicalProbe(c.LivenessProbe)
	canonicalProbe(c.ReadinessProbe)
	canonicalProbe(c.StartupProbe)
	if l := c.Lifecycle; l != nil {
		for _, h := range []*corev1.LifecycleHandler{l.PostStart, l.PreStop} {
			if h != nil {
				canonicalHTTPGet(h.HTTPGet)
			}
		}
	}
}

// canonicalResources rounds quantities up to milli-units and drops requests
// equal to their limit: a Pod defaults a missing request to the limit, so
// both forms mean the same.
func canonicalResources(r *corev1.ResourceRequirements) {
	roundUp(r.Limits)
	roundUp(r.Requests)
	for name, limit := range r.Limits {
		if req, ok := r.Requests[name]; ok && req.Cmp(limit) == 0 {
			delete(r.Requests, name)
		}
	}
	if len(r.Requests) == 0 {
		r.Requests = nil
	}
}

// roundUp rounds every quantity of l up to milli-units, as
// SetDefaults_ResourceList does.
func roundUp(l corev1.ResourceList) {
	for name, q := range l {
		q.RoundUp(milliScale)
		l[name] = q
	}
}

// canonicalEnvSource clears an env var source's defaults.
func canonicalEnvSource(src *corev1.EnvVarSource) {
	if src == nil {
		return
	}
	canonicalFieldRef(src.FieldRef)
	if r := src.ResourceFieldRef; r != nil && r.Divisor.IsZero() {
		// An absent divisor and "0" both mean 1; print them alike.
		r.Divisor = resource.Quantity{}
	}
	if f := src.FileKeyRef; f != nil && f.Optional != nil && !*f.Optional {
		f.Optional = nil
	}
}

// canonicalFieldRef clears a field selector's default apiVersion.
func canonicalFieldRef(f *corev1.ObjectFieldSelector) {
	if f != nil && f.APIVersion == defaultFieldAPIVersion {
		f.APIVersion = ""
	}
}

// canonicalProbe clears a probe's defaulted thresholds and handler fields.
func canonicalProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == defaultProbeTimeout {
		p.TimeoutSeconds = 0
	}
	if p.PeriodSeconds == defaultProbePeriod {
		p.PeriodSeconds = 0
	}
	if p.SuccessThreshold == defaultProbeSuccess {
		p.SuccessThreshold = 0
	}
	if p.FailureThreshold == defaultProbeFailure {
		p.FailureThreshold = 0
	}
	canonicalHTTPGet(p.HTTPGet)
	if g := p.GRPC; g != nil && g.Service != nil && *g.Service == "" {
		g.Service = nil
	}
}

// canonicalHTTPGet clears an HTTP GET action's default path and scheme.
func canonicalHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == defaultHTTPPath {
		h.Path = ""
	}
	if h.Scheme == corev1.URISchemeHTTP {
		h.Scheme = ""
	}
}
