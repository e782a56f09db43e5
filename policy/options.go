package policy

// Option configures an Engine.
type Option func(*options)

type options struct {
	network bool
	strict  bool
}

// WithNetworkBuiltins lets policy call http.send and net.lookup_ip_addr.
// Without it, a module that calls them fails to compile: an admission
// decision should not wait on, or be steered by, a network call from Rego.
func WithNetworkBuiltins() Option {
	return func(o *options) { o.network = true }
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
