package policy

// Option configures an Engine.
type Option func(*options)

type options struct {
	network bool
	hosts   []string
	strict  bool
}

// WithNetworkBuiltins lets cluster policy call http.send and
// net.lookup_ip_addr, to any host. Without it, a module that calls them
// fails to compile: an admission decision should not wait on, or be
// steered by, a network call from Rego. A namespace's own policy never
// gets them: a tenant's Rego must not make the gateway's requests.
func WithNetworkBuiltins() Option {
	return func(o *options) { o.network, o.hosts = true, nil }
}

// WithNetworkHosts is WithNetworkBuiltins limited to hosts (names or
// addresses, any port, as OPA's capabilities allow_net): a call to any
// other host is an evaluation error. No hosts means no network built-ins.
func WithNetworkHosts(hosts ...string) Option {
	return func(o *options) {
		if len(hosts) == 0 {
			o.network, o.hosts = false, nil
			return
		}
		o.network, o.hosts = true, hosts
	}
}

// WithStrictBuiltinErrors makes a built-in that fails (1 / 0, sprintf of
// the wrong type, json.unmarshal of bad JSON) fail the evaluation, so the
// caller fails closed. Without it, as in OPA by default, the failing
// expression is undefined: a deny rule that hits such an error does not
// fire. RunTests honours the option too, so tests see what admission sees.
func WithStrictBuiltinErrors() Option {
	return func(o *options) { o.strict = true }
}

// newOptions applies opts over the defaults: no network built-ins, OPA's
// non-strict built-in errors.
func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
