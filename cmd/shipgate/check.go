package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/webhook"
	"github.com/shipgate/shipgate/workload/manifest"
)

// checkOptions is what `shipgate check` is told.
type checkOptions struct {
	Files           []string
	ConfigFile      string
	Namespace       string
	NamespaceLabels []string
	Output          string
}

func newCheckCommand(run func(context.Context, io.Writer, checkOptions) error) *cobra.Command {
	var opts checkOptions
	cmd := &cobra.Command{
		Use:   "check -f FILE|DIR [-f …]",
		Short: "Judge Kubernetes manifests offline, as /validate would",
		Long: `Run manifests (multi-document YAML, JSON, Lists, directories) through the
same pipeline as /validate, as top-level objects: offline nothing is
inherited. Namespace labels come from Namespace objects among the manifests
or from --namespace-labels. Exits 1 if anything is denied, 2 when the input
or the configuration cannot be read.`,
		Example: `  shipgate check -f deploy/ --config gateway.yaml
  shipgate check -f app.yaml --namespace-labels prod-web=env=prod,tier=web -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(opts.Files) == 0 {
				return fmt.Errorf("no manifests: give -f FILE or -f DIR")
			}
			if opts.Output != "table" && opts.Output != "json" {
				return fmt.Errorf("-o %q: want table or json", opts.Output)
			}
			return run(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Files, "filename", "f", nil, "manifest file or directory (repeatable; - is stdin)")
	f.StringVar(&opts.ConfigFile, "config", "", "GatewayConfig file (default: the embedded defaults)")
	f.StringVarP(&opts.Namespace, "namespace", "n", "default", "namespace of objects that name none")
	f.StringArrayVar(&opts.NamespaceLabels, "namespace-labels", nil, "labels of a namespace: NS=KEY=VALUE,KEY=VALUE (repeatable)")
	f.StringVarP(&opts.Output, "output", "o", "table", "table or json")
	return cmd
}

// checkResult is one judged object in `check -o json`.
type checkResult struct {
	Source   string            `json:"source"`
	Object   string            `json:"object"`
	Decision *webhook.Decision `json:"decision"`
}

func runCheck(ctx context.Context, out io.Writer, opts checkOptions) error {
	cfg := config.Default()
	if opts.ConfigFile != "" {
		var err error
		if cfg, err = config.Load(opts.ConfigFile); err != nil {
			return inputError(err)
		}
	}
	objs, err := manifest.ReadPaths(opts.Files)
	if err != nil {
		return inputError(err)
	}
	labels, err := namespaceLabels(objs, opts.NamespaceLabels)
	if err != nil {
		return inputError(err)
	}
	v := webhook.NewValidator(func() *config.GatewayConfig { return cfg },
		webhook.WithNamespaceLabels(labels), webhook.WithLogger(discardLogger()))

	var results []checkResult
	denied := false
	for i, o := range objs {
		if o.Kind == "Namespace" {
			continue
		}
		req, err := offlineRequest(i, &o, opts.Namespace)
		if err != nil {
			return inputError(err)
		}
		d := v.Decide(ctx, req)
		if d.Class == "ignore" && !d.Excluded && len(d.Reasons) == 0 {
			continue // not a workload
		}
		denied = denied || !d.Allowed
		results = append(results, checkResult{Source: o.Where(), Object: d.Kind + " " + d.Namespace + "/" + d.Name, Decision: d})
	}

	if opts.Output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if results == nil {
			results = []checkResult{}
		}
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		printCheckTable(out, results)
	}
	if denied {
		return exitCode(1)
	}
	return nil
}

func printCheckTable(out io.Writer, results []checkResult) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OBJECT\tSOURCE\tDECISION\tREASONS")
	for _, r := range results {
		reasons := "-"
		if len(r.Decision.Reasons) > 0 {
			msgs := make([]string, len(r.Decision.Reasons))
			for i, x := range r.Decision.Reasons {
				msgs[i] = x.Message
			}
			reasons = strings.Join(msgs, "; ")
		} else if r.Decision.Excluded {
			reasons = "namespace excluded"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Object, r.Source, r.Decision.Verdict(), reasons)
	}
	tw.Flush()
}

// offlineRequest wraps a manifest object in the AdmissionRequest the API
// server would send for its creation.
func offlineRequest(i int, o *manifest.Object, defaultNS string) (*webhook.Request, error) {
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	if err != nil {
		return nil, &manifest.Error{File: o.File, Line: o.Line, Err: err}
	}
	ns := o.Namespace
	if ns == "" {
		ns = defaultNS
	}
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       fmt.Sprintf("check-%d", i),
			"kind":      map[string]string{"group": gv.Group, "version": gv.Version, "kind": o.Kind},
			"namespace": ns,
			"name":      o.Name,
			"operation": "CREATE",
			"userInfo":  map[string]any{"username": "shipgate-check"},
			"object":    json.RawMessage(o.JSON),
		},
	}
	raw, err := json.Marshal(review)
	if err != nil {
		return nil, &manifest.Error{File: o.File, Line: o.Line, Err: err}
	}
	req, err := webhook.DecodeReview(raw)
	if err != nil {
		return nil, &manifest.Error{File: o.File, Line: o.Line, Err: err}
	}
	return req, nil
}

// namespaceLabels gathers labels from Namespace objects and the
// --namespace-labels flags (the flags win).
func namespaceLabels(objs []manifest.Object, flags []string) (config.StaticNamespaces, error) {
	m := config.StaticNamespaces{}
	for _, o := range objs {
		if o.Kind == "Namespace" {
			m[o.Name] = o.Labels
		}
	}
	for _, f := range flags {
		ns, rest, ok := strings.Cut(f, "=")
		if !ok || ns == "" {
			return nil, fmt.Errorf("--namespace-labels %q: want NS=KEY=VALUE,…", f)
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--namespace-labels %q: %q is not KEY=VALUE", f, kv)
			}
			labels[k] = v
		}
		m[ns] = labels
	}
	return m, nil
}

// inputError reports unreadable input and exits 2.
func inputError(err error) error {
	return exitWith(2, err)
}
