package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/shipgate/shipgate/signer"
)

// evidenceTestsOptions is what `shipgate evidence tests` is told.
type evidenceTestsOptions struct {
	JUnit         string
	GoTestJSON    string
	Output        string
	URL           string
	Configuration []string
	Image         string
	Key           string
	// Password decrypts Key; nil when $COSIGN_PASSWORD is unset.
	Password []byte
	Timeout  time.Duration
}

func newEvidenceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Build signed evidence about images",
	}
	cmd.AddCommand(newEvidenceTestsCommand(runEvidenceTests))
	return cmd
}

func newEvidenceTestsCommand(run func(ctx context.Context, stdout, stderr io.Writer, o evidenceTestsOptions) error) *cobra.Command {
	var o evidenceTestsOptions
	cmd := &cobra.Command{
		Use:   "tests --junit FILE | --go-test-json FILE [-o FILE] [--image REF --key cosign.key]",
		Short: "Turn a test report into a signed test-result attestation",
		Long: `Build the in-toto test-result predicate (` + signer.TestResultPredicateType + `)
from a JUnit XML report or the output of go test -json: result PASSED when
every test passed, WARNED when none failed but some were skipped, FAILED
otherwise, with the tests listed by outcome. A report with no tests is
refused. The predicate goes to -o, or to stdout.

With --image and --key, also sign it as a DSSE in-toto statement about the
image's digest and attach it to the image, as cosign attest --type
` + signer.TestResultPredicateType + ` --tlog-upload=false does; cosign
verify-attestation accepts it, and so does shipgate. The key is a cosign
key, its password in $COSIGN_PASSWORD; registry credentials come from the
Docker config. stdout then carries the attested reference, REPO@sha256:…,
and the predicate goes only to -o. Exits 2 when the report, the key or the
flags cannot be used, 1 when attaching fails.`,
		Example: `  go test -json ./... > tests.json
  shipgate evidence tests --go-test-json tests.json -o predicate.json
  COSIGN_PASSWORD=… shipgate evidence tests --junit target/surefire-reports/TEST-all.xml \
      --url "$CI_JOB_URL" --image registry.example.com/shop/api:1.4.2 --key cosign.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pw, ok := os.LookupEnv("COSIGN_PASSWORD"); ok {
				o.Password = []byte(pw)
			}
			return run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.JUnit, "junit", "", "JUnit XML report (- is stdin)")
	f.StringVar(&o.GoTestJSON, "go-test-json", "", "output of go test -json (- is stdin)")
	f.StringVarP(&o.Output, "output", "o", "", "write the predicate JSON to this file")
	f.StringVar(&o.URL, "url", "", "link to the test run (its logs), recorded in the predicate")
	f.StringArrayVar(&o.Configuration, "configuration", nil, "a file configuring the run, recorded with its SHA-256 (repeatable)")
	f.StringVar(&o.Image, "image", "", "image to attest, by tag or digest")
	f.StringVar(&o.Key, "key", "", "cosign private key to sign with")
	f.DurationVar(&o.Timeout, "timeout", 3*time.Minute, "bound on the registry calls of --image")
	cmd.MarkFlagsOneRequired("junit", "go-test-json")
	cmd.MarkFlagsMutuallyExclusive("junit", "go-test-json")
	cmd.MarkFlagsRequiredTogether("image", "key")
	return cmd
}

func runEvidenceTests(ctx context.Context, stdout, stderr io.Writer, o evidenceTestsOptions) error {
	tr, err := readTestReport(o)
	if err != nil {
		return inputError(err)
	}
	if o.URL != "" {
		if u, err := url.Parse(o.URL); err != nil || !u.IsAbs() {
			return inputError(fmt.Errorf("--url %q: want an absolute URL", o.URL))
		}
		tr.URL = o.URL
	}
	for _, path := range o.Configuration {
		rd, err := describeFile(path)
		if err != nil {
			return inputError(err)
		}
		tr.Configuration = append(tr.Configuration, rd)
	}
	predicate, err := json.MarshalIndent(tr, "", "  ")
	if err != nil {
		return err
	}
	predicate = append(predicate, '\n')
	fmt.Fprintf(stderr, "tests %s: %d passed, %d warned, %d failed\n",
		tr.Result, len(tr.PassedTests), len(tr.WarnedTests), len(tr.FailedTests))

	switch {
	case o.Output != "":
		if err := os.WriteFile(o.Output, predicate, 0o644); err != nil {
			return inputError(fmt.Errorf("writing the predicate: %w", err))
		}
	case o.Image == "":
		_, err := stdout.Write(predicate)
		return err
	}
	if o.Image == "" {
		return nil
	}
	return attestTests(ctx, stdout, o, predicate)
}

func attestTests(ctx context.Context, stdout io.Writer, o evidenceTestsOptions, predicate []byte) error {
	ref, err := name.ParseReference(o.Image)
	if err != nil {
		return inputError(fmt.Errorf("--image: %w", err))
	}
	if o.Password == nil {
		return inputError(errors.New("set COSIGN_PASSWORD to the password of --key (empty for a key without one)"))
	}
	sv, err := signer.LoadPrivateKey(o.Key, o.Password)
	if err != nil {
		return inputError(err)
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	digest, err := signer.Attest(ctx, ref, signer.TestResultPredicateType, predicate, sv)
	if err != nil {
		return exitWith(1, err)
	}
	_, err = fmt.Fprintf(stdout, "%s@%s\n", ref.Context().Name(), digest)
	return err
}

// readTestReport parses the one report the flags name.
func readTestReport(o evidenceTestsOptions) (*signer.TestResult, error) {
	path, parse := o.JUnit, signer.TestResultFromJUnit
	if o.GoTestJSON != "" {
		path, parse = o.GoTestJSON, signer.TestResultFromGoTestJSON
	}
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the test report: %w", err)
		}
		defer f.Close()
		r = f
	}
	tr, err := parse(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tr, nil
}

// describeFile is a resource descriptor of a configuration file: its path
// as given and its SHA-256.
func describeFile(path string) (signer.ResourceDescriptor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return signer.ResourceDescriptor{}, fmt.Errorf("reading --configuration: %w", err)
	}
	sum := sha256.Sum256(b)
	return signer.ResourceDescriptor{Name: path, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}, nil
}
