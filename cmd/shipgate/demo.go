package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/server"
	"github.com/shipgate/shipgate/webhook"
)

// demoOptions is what `shipgate demo` is told.
type demoOptions struct {
	Verbose bool
	// Dir keeps the demo's files (configuration, policy, tokens, audit
	// store and its checkpoint key) there; empty means a temporary
	// directory removed at the end.
	Dir string
}

func newDemoCommand(run func(context.Context, io.Writer, demoOptions) error) *cobra.Command {
	var opts demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start the gateway on loopback and play the API server against it",
		Long: `Start an OCI registry and the real HTTPS gateway on 127.0.0.1, push
images to the registry, signed and with test results attested as CI would
(keys generated for the run), then play the Kubernetes API server: send
the gateway the AdmissionReviews a cluster would send for a handful of
workloads, approve a production rollout through the approval API, and
print what was admitted, pinned, warned and denied, and why. Ends with the
audit log and its verification. Needs nothing but this binary: no cosign,
no cluster, no network.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "also print the gateway's JSON logs")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "write the demo's configuration, policy, tokens and audit store into this new or empty directory and keep them")
	return cmd
}

// demoDir is where the demo writes its files, and how to clean up.
func demoDir(dir string) (string, func(), error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "shipgate-demo-")
		return d, func() { os.RemoveAll(d) }, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
		return "", nil, fmt.Errorf("--dir %s: want a new or empty directory (a previous run's audit log would be mixed in)", dir)
	}
	abs, err := filepath.Abs(dir)
	return abs, func() {}, err
}

func runDemo(ctx context.Context, out io.Writer, opts demoOptions) error {
	dir, cleanup, err := demoDir(opts.Dir)
	if err != nil {
		return err
	}
	defer cleanup()

	reg, err := startDemoRegistry()
	if err != nil {
		return err
	}
	defer reg.Close()
	images, err := pushDemoImages(ctx, out, reg)
	if err != nil {
		return err
	}
	files, err := writeDemoConfig(dir, reg)
	if err != nil {
		return err
	}

	logOut := io.Discard
	if opts.Verbose {
		logOut = os.Stderr
	}
	cluster := newDemoCluster()
	srv, err := server.New(server.Options{
		ConfigFile: files.Config,
		Addr:       "127.0.0.1:0",
		NoCluster:  true,
		StoreURL:   "sqlite://" + filepath.Join(dir, "shipgate.db"),
		CertDir:    filepath.Join(dir, "certs"),
		Logger:     slog.New(slog.NewJSONHandler(logOut, nil)),
		Webhook:    []webhook.Option{webhook.WithOwners(cluster), webhook.WithNamespaceLabels(cluster.namespaceLabels())},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	api, err := newDemoAPIServer(srv, cluster)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nshipgate is serving https://%s (CA bundle %s).\n", srv.Addr(), srv.CAFile())
	fmt.Fprintf(out, "Configuration %s:\n", files.Config)
	fmt.Fprintln(out, "  enforce by default, warn in dev-*, audit in sandbox-*, two approvers from release-managers in prod-* labelled env=prod;")
	fmt.Fprintf(out, "  trust policy demo-registry, bound everywhere: images in %s/** signed by the release key, with test results\n", reg.Host)
	fmt.Fprintln(out, "  (PASSED) signed by the CI key, both public keys inline; an image from any other registry matches no trust policy;")
	fmt.Fprintf(out, "  the Rego policy demo, bound everywhere: images come from %s or are official images;\n", reg.Host)
	fmt.Fprintf(out, "  API users (%s, %s): alice, bob and carol in release-managers, dana in auditors.\n", filepath.Base(files.TokenFile), filepath.Base(files.RoleFile))
	fmt.Fprintln(out, "Playing the Kubernetes API server: each request goes to /mutate, then (patched) to /validate, over TLS.")
	story := &demoStory{images: images, people: demoPeople{server: "https://" + srv.Addr().String(), caFile: srv.CAFile()}}
	if err := api.play(ctx, out, story.steps()); err != nil {
		return err
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}
	return showAuditLog(context.WithoutCancel(ctx), out, filepath.Join(dir, "shipgate.db"))
}

// showAuditLog prints what the gateway recorded and verifies the log the way
// an auditor would, with the checkpoint key's public half.
func showAuditLog(ctx context.Context, out io.Writer, dbFile string) error {
	fmt.Fprintf(out, "\nThe audit log (%s): rollouts, decisions with reasons, approval events and audit reads;\n", dbFile)
	fmt.Fprintln(out, "inherited objects, the scale and the dry run left no record.")
	storeURL := "sqlite://" + dbFile
	if err := runAuditQuery(ctx, out, auditOptions{StoreURL: storeURL, Limit: 100}); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nshipgate audit verify:")
	return runAuditVerify(ctx, out, auditOptions{StoreURL: storeURL, KeyFiles: []string{dbFile + ".checkpoint.pub"}})
}
