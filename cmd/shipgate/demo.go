package main

import (
	"context"
	"embed"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/server"
	"github.com/shipgate/shipgate/webhook"
)

// demoOptions is what `shipgate demo` is told.
type demoOptions struct {
	Verbose bool
}

func newDemoCommand(run func(context.Context, io.Writer, demoOptions) error) *cobra.Command {
	var opts demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start the gateway on loopback and play the API server against it",
		Long: `Start the real HTTPS gateway on 127.0.0.1 with the embedded default
configuration, then play the Kubernetes API server: send it the
AdmissionReviews a cluster would send for a handful of workloads, and print
what was admitted, warned and denied, and why. Needs nothing but this
binary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "also print the gateway's JSON logs")
	return cmd
}

// demoData is the demo's configuration and policy.
//
//go:embed demodata
var demoData embed.FS

// writeDemoConfig writes the demo's policy and configuration into dir and
// returns the configuration file.
func writeDemoConfig(dir string) (string, error) {
	pdir := filepath.Join(dir, "policies")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		return "", err
	}
	rego, err := demoData.ReadFile("demodata/registries.rego")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(pdir, "registries.rego"), rego, 0o644); err != nil {
		return "", err
	}
	gw, err := demoData.ReadFile("demodata/gateway.yaml")
	if err != nil {
		return "", err
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	return cfg, os.WriteFile(cfg, []byte(strings.Replace(string(gw), "POLICY_DIR", pdir, 1)), 0o644)
}

func runDemo(ctx context.Context, out io.Writer, opts demoOptions) error {
	dir, err := os.MkdirTemp("", "shipgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgFile, err := writeDemoConfig(dir)
	if err != nil {
		return err
	}

	logOut := io.Discard
	if opts.Verbose {
		logOut = os.Stderr
	}
	cluster := newDemoCluster()
	srv, err := server.New(server.Options{
		ConfigFile: cfgFile,
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
	fmt.Fprintf(out, "shipgate is serving https://%s (CA bundle %s).\n", srv.Addr(), srv.CAFile())
	fmt.Fprintf(out, "Configuration %s: enforce by default, warn in dev-*, audit in sandbox-*,\n", cfgFile)
	fmt.Fprintln(out, "and a Rego policy bound everywhere: images come from registry.example.com or are official images.")
	fmt.Fprintln(out, "Playing the Kubernetes API server: each request goes to /mutate, then /validate, over TLS.")
	fmt.Fprintln(out)
	if err := api.play(ctx, out, demoScript()); err != nil {
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
	fmt.Fprintf(out, "\nThe audit log (%s): rollouts and decisions with reasons; inherited objects, the scale and the dry run left no record.\n", dbFile)
	storeURL := "sqlite://" + dbFile
	if err := runAuditQuery(ctx, out, auditOptions{StoreURL: storeURL, Limit: 100}); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nshipgate audit verify:")
	return runAuditVerify(ctx, out, auditOptions{StoreURL: storeURL, KeyFiles: []string{dbFile + ".checkpoint.pub"}})
}
