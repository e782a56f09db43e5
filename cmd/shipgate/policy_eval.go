package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/policy"
	"github.com/shipgate/shipgate/workload/manifest"
)

// policyEvalOptions is what `shipgate policy eval` is told.
type policyEvalOptions struct {
	Files           []string
	Namespace       string
	NamespaceLabels []string
	ConfigFile      string
	Policies        string
	Sets            []string
	Explain         string
	Verify          bool
	Output          string
}

func newPolicyEvalCommand(run func(context.Context, io.Writer, policyEvalOptions) error) *cobra.Command {
	var o policyEvalOptions
	cmd := &cobra.Command{
		Use:   "eval -f MANIFEST [-f …]",
		Short: "Show what the Rego policies of a namespace decide about manifests",
		Long: `For each workload in the manifests, build the policy input /validate
builds (the AdmissionReview of its creation and input.shipgate) and
evaluate the policy sets bound to its namespace by --config (or --set),
compiled from --policies or the config's policies.directory. Print each
deny, warn and require_approval message with the set that raised it.

Images are not verified unless --verify is given: input.shipgate.images
then carries no digest, signer or attestation, and verified is false, as
the output says. --verify verifies them here as "shipgate verify" does
offline (keys from files or inline data, registries reached from here).

--explain full|notes|fails prints OPA's trace of each set, filtered as
"opa eval --explain" filters it: each expression evaluated, with its
file:line. -o json adds, per object, the whole input the policies saw;
it repeats the manifest, so any secret in it too.

This shows policy alone; "shipgate check" shows the whole decision
(the floor rules, verification, approval).

Exits 1 when a policy denies or fails to evaluate (admission refuses
both in an enforced namespace), 2 when the manifests, the configuration
or the policies cannot be read or do not compile.`,
		Example: `  shipgate policy eval -f deploy.yaml --config gateway.yaml -n prod-shop --namespace-labels prod-shop=env=prod
  shipgate policy eval -f deploy.yaml --policies policies --set production --explain fails
  shipgate policy eval -f deploy.yaml --config gateway.yaml --verify -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.Files) == 0 {
				return fmt.Errorf("no manifests: give -f FILE or -f DIR")
			}
			if o.Output != "table" && o.Output != "json" {
				return fmt.Errorf("-o %q: want table or json", o.Output)
			}
			if o.Explain != "" && !slices.Contains(policy.ExplainModes, o.Explain) {
				return fmt.Errorf("--explain %q: want %s", o.Explain, strings.Join(policy.ExplainModes, ", "))
			}
			return run(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file or directory (repeatable; - is stdin)")
	f.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of objects that name none")
	f.StringArrayVar(&o.NamespaceLabels, "namespace-labels", nil, "labels of a namespace: NS=KEY=VALUE,KEY=VALUE (repeatable)")
	f.StringVar(&o.ConfigFile, "config", "", "GatewayConfig file: bindings, trust, policies.directory (default: the embedded defaults)")
	f.StringVar(&o.Policies, "policies", "", "policy directory (default: the config's policies.directory)")
	f.StringArrayVar(&o.Sets, "set", nil, "evaluate this policy set instead of those bound to the namespace (repeatable)")
	f.StringVar(&o.Explain, "explain", "", "print OPA's trace: full, notes or fails")
	f.BoolVar(&o.Verify, "verify", false, "verify images against the config's trust policies first, as admission does")
	f.StringVarP(&o.Output, "output", "o", "table", "table or json")
	return cmd
}

// evalResult is what the policies decided about one object; `policy eval
// -o json` prints a list of them.
type evalResult struct {
	Source    string      `json:"source"`
	Object    string      `json:"object"`
	Namespace string      `json:"namespace"`
	Mode      config.Mode `json:"mode,omitempty"`
	Sets      []string    `json:"sets"`
	Revision  string      `json:"revision,omitempty"`
	// Skipped says why policy does not run for the object.
	Skipped string `json:"skipped,omitempty"`
	// ImagesVerified is false when the input carries no signer facts.
	ImagesVerified  bool           `json:"imagesVerified"`
	Images          []evalImage    `json:"images,omitempty"`
	Deny            []evalMessage  `json:"deny"`
	Warn            []evalMessage  `json:"warn"`
	RequireApproval []evalApproval `json:"requireApproval"`
	// Error is why evaluation failed: admission refuses the object then
	// in an enforced namespace (fail closed).
	Error       string          `json:"error,omitempty"`
	Explanation []evalTrace     `json:"explanation,omitempty"`
	Input       json.RawMessage `json:"input,omitempty"`
}

type evalMessage struct {
	Set  string `json:"set"`
	Code string `json:"code,omitempty"`
	Msg  string `json:"msg"`
}

type evalApproval struct {
	Set       string   `json:"set"`
	Approvers int      `json:"approvers"`
	Groups    []string `json:"groups,omitempty"`
	Reason    string   `json:"reason,omitempty"`
}

type evalImage struct {
	Ref      string   `json:"ref"`
	Digest   string   `json:"digest,omitempty"`
	Verified bool     `json:"verified"`
	Errors   []string `json:"errors,omitempty"`
}

// evalTrace is OPA's pretty trace of one set, a line per event.
type evalTrace struct {
	Set   string   `json:"set"`
	Trace []string `json:"trace"`
}

func runPolicyEval(ctx context.Context, out io.Writer, o policyEvalOptions) error {
	cfg := config.Default()
	if o.ConfigFile != "" {
		var err error
		if cfg, err = config.Load(o.ConfigFile); err != nil {
			return inputError(err)
		}
	}
	b := policy.NewBundle()
	if dir := cmp.Or(o.Policies, cfg.Policies.Directory); dir != "" {
		var err error
		if b, err = policy.LoadDir(dir); err != nil {
			return inputError(err)
		}
	}
	// As the server compiles it: a built-in that errors fails the
	// evaluation rather than leaving a deny rule silently undefined.
	engine, err := policy.New(b, nil, policy.WithStrictBuiltinErrors(), policy.WithNetworkHosts(cfg.Policies.NetworkHosts...))
	if err != nil {
		return inputError(err)
	}
	objs, err := manifest.ReadPaths(o.Files)
	if err != nil {
		return inputError(err)
	}
	labels, err := namespaceLabels(objs, o.NamespaceLabels)
	if err != nil {
		return inputError(err)
	}
	env := evalEnv{cfg: cfg, labels: labels, namespace: o.Namespace}
	if o.Verify {
		if env.verifier, err = evalVerifier(cfg); err != nil {
			return inputError(err)
		}
	}

	results := []evalResult{}
	for i := range objs {
		if objs[i].Kind == "Namespace" {
			continue
		}
		t, err := evalTargetOf(ctx, env, i, &objs[i])
		if err != nil {
			return inputError(err)
		}
		if t == nil {
			continue // not a workload
		}
		r, err := evaluateTarget(ctx, engine, t, o)
		if err != nil {
			return err
		}
		results = append(results, r)
	}

	if o.Output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		printEvalResults(out, results, o)
	}
	for _, r := range results {
		if len(r.Deny) > 0 || r.Error != "" {
			return exitCode(1)
		}
	}
	return nil
}

// evaluateTarget runs the sets bound to the target's namespace (or --set)
// over its input, explaining when asked.
func evaluateTarget(ctx context.Context, e *policy.Engine, t *evalTarget, o policyEvalOptions) (evalResult, error) {
	r := evalResult{
		Source: t.Source, Object: t.Object, Namespace: t.Namespace, Skipped: t.Skipped,
		Sets: []string{}, Deny: []evalMessage{}, Warn: []evalMessage{}, RequireApproval: []evalApproval{},
	}
	if t.Input == nil {
		return r, nil
	}
	r.Mode, r.ImagesVerified = t.Binding.Mode, t.Verified
	switch {
	case len(o.Sets) > 0:
		r.Sets = o.Sets
	case len(t.Binding.Policies) > 0:
		r.Sets = t.Binding.Policies
	}
	for _, f := range t.Input.Shipgate.Images {
		r.Images = append(r.Images, evalImage{Ref: f.Ref, Digest: f.Digest, Verified: f.Verified, Errors: f.Errors})
	}
	if o.Output == "json" {
		in, err := inputJSON(t.Input)
		if err != nil {
			return r, err
		}
		r.Input = in
	}

	var res policy.Result
	var traces []policy.Trace
	var err error
	if o.Explain != "" {
		res, traces, err = e.Explain(ctx, t.Namespace, r.Sets, t.Input)
	} else {
		res, err = e.Evaluate(ctx, t.Namespace, r.Sets, t.Input)
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.Revision = cmp.Or(res.Revision, e.Revision())
	for _, m := range res.Deny {
		r.Deny = append(r.Deny, evalMessage{Set: m.Set, Code: m.Code, Msg: m.Msg})
	}
	for _, m := range res.Warn {
		r.Warn = append(r.Warn, evalMessage{Set: m.Set, Code: m.Code, Msg: m.Msg})
	}
	for _, a := range res.RequireApproval {
		r.RequireApproval = append(r.RequireApproval, evalApproval{Set: a.Set, Approvers: a.Approvers, Groups: a.Groups, Reason: a.Reason})
	}
	for _, tr := range traces {
		var s strings.Builder
		if err := tr.Write(&s, o.Explain); err != nil {
			return r, err
		}
		lines := []string{}
		if s.Len() > 0 {
			lines = strings.Split(strings.TrimSuffix(s.String(), "\n"), "\n")
		}
		r.Explanation = append(r.Explanation, evalTrace{Set: tr.Set, Trace: lines})
	}
	return r, nil
}

// inputJSON is the policy input as one JSON document: the review with
// the facts under "shipgate", as policy sees it.
func inputJSON(in *policy.Input) (json.RawMessage, error) {
	var review map[string]json.RawMessage
	if err := json.Unmarshal(in.Review, &review); err != nil {
		return nil, fmt.Errorf("encoding policy input: %w", err)
	}
	facts, err := json.Marshal(in.Shipgate)
	if err != nil {
		return nil, fmt.Errorf("encoding policy input: %w", err)
	}
	review["shipgate"] = facts
	return json.Marshal(review)
}
