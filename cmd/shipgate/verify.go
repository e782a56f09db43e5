package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
	signerapi "github.com/shipgate/shipgate/signer/api"
)

// verifyOptions is what `shipgate verify` is told.
type verifyOptions struct {
	Images          []string
	Namespace       string
	NamespaceLabels []string
	ConfigFile      string
	Output          string
	Conn            apiConn
}

func newVerifyCommand(run func(context.Context, io.Writer, verifyOptions) error) *cobra.Command {
	var opts verifyOptions
	cmd := &cobra.Command{
		Use:   "verify IMAGE…",
		Short: "Verify images ahead of deployment, as admission will",
		Long: `Resolve each image, verify its signatures and attestations against the
trust policies bound to --namespace, and print per image: the digest, which
authorities verified, which attestations, and why not.

With --server (or $SHIPGATE_SERVER) the gateway verifies (POST /v1/verify),
which warms its cache so the admission that follows is a lookup: a CI step.
Without, the images are verified here against --config. Exits 1 when an
image does not verify, 2 when the input or configuration cannot be read.`,
		Example: `  shipgate verify registry.example.com/shop/api:1.4.2 -n prod-shop --server https://shipgate.example.com
  shipgate verify --config gateway.yaml -n prod-shop registry.example.com/shop/api@sha256:… -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output != "table" && opts.Output != "json" {
				return fmt.Errorf("-o %q: want table or json", opts.Output)
			}
			opts.Images = args
			return run(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Namespace, "namespace", "n", "default", "namespace whose trust policies apply")
	f.StringArrayVar(&opts.NamespaceLabels, "namespace-labels", nil, "labels of the namespace, offline: NS=KEY=VALUE,… (repeatable)")
	f.StringVar(&opts.ConfigFile, "config", "", "GatewayConfig file, offline (default: the embedded defaults)")
	f.StringVarP(&opts.Output, "output", "o", "table", "table or json")
	opts.Conn.flags(f)
	return cmd
}

func runVerify(ctx context.Context, out io.Writer, opts verifyOptions) error {
	var resp signerapi.Response
	if opts.Conn.Server != "" || os.Getenv(envServer) != "" {
		c, err := opts.Conn.client()
		if err != nil {
			return inputError(err)
		}
		if err := c.do(ctx, "POST", "/v1/verify?namespace="+url.QueryEscape(opts.Namespace), signerapi.Request{Images: opts.Images}, &resp); err != nil {
			return exitWith(2, err)
		}
	} else {
		r, err := verifyOffline(ctx, opts)
		if err != nil {
			return inputError(err)
		}
		resp = *r
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(resp); err != nil {
			return err
		}
	} else {
		printVerifyTable(out, resp.Results)
	}
	for _, r := range resp.Results {
		if !r.Verified {
			return exitCode(1)
		}
	}
	return nil
}

// verifyOffline verifies against a config file here, reading keys from
// the file or inline data (a Secret needs the gateway: use --server).
func verifyOffline(ctx context.Context, opts verifyOptions) (*signerapi.Response, error) {
	cfg := config.Default()
	if opts.ConfigFile != "" {
		var err error
		if cfg, err = config.Load(opts.ConfigFile); err != nil {
			return nil, err
		}
	}
	labels, err := namespaceLabels(nil, opts.NamespaceLabels)
	if err != nil {
		return nil, err
	}
	nsLabels, err := labels.Labels(ctx, opts.Namespace)
	if err != nil {
		return nil, err
	}
	b := cfg.Resolve(opts.Namespace, nsLabels).Binding
	trust, err := signer.CompileTrust(cfg, readLocalSource)
	if err != nil {
		return nil, err
	}
	var vopts []signer.Option
	if p := cfg.Verification.DockerConfig; p != "" {
		vopts = append(vopts, signer.WithKeychain(signer.DockerConfigKeychain(p)))
	}
	results := signer.New(cfg.Verification, trust, vopts...).Verify(ctx, signer.Request{Images: opts.Images, Trust: b.Trust, DryRun: true})
	return &signerapi.Response{Namespace: opts.Namespace, Trust: b.Trust, Results: results}, nil
}

func readLocalSource(s *config.Source) ([]byte, error) {
	switch {
	case s.Data != "":
		return []byte(s.Data), nil
	case s.File != "":
		return os.ReadFile(s.File)
	case s.SecretRef != nil:
		return nil, fmt.Errorf("secret %s/%s: offline, keys come from files or inline data; verify through the gateway with --server", s.SecretRef.Namespace, s.SecretRef.Name)
	}
	return nil, errors.New("source names no data, file or secret")
}

func printVerifyTable(out io.Writer, results []*signer.Result) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tVERIFIED\tSIGNED BY\tATTESTATIONS\tWHY NOT")
	for _, r := range results {
		var atts []string
		for _, a := range r.Attestations {
			atts = append(atts, shortType(a.PredicateType)+" by "+a.Signer.Name)
		}
		why := strings.Join(r.Errors, "; ")
		if r.Stale {
			why = "last-known-good from " + r.VerifiedAt.UTC().Format("2006-01-02T15:04:05Z") + "; registry unreachable"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\n", r.Ref, dash(r.Digest), r.Verified, dash(strings.Join(r.AuthorityNames(), ",")), dash(strings.Join(atts, ",")), dash(why))
	}
	tw.Flush()
}

// shortType is the last path element of a predicate type URI:
// "test-result/v0.1".
func shortType(t string) string {
	parts := strings.Split(strings.TrimSuffix(t, "/"), "/")
	if len(parts) >= 2 {
		return parts[len(parts)-2] + "/" + parts[len(parts)-1]
	}
	return t
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
