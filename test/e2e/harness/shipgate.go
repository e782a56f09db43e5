package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Shipgate is `shipgate serve` running on loopback outside the cluster,
// as the chart would run it inside: the chart's config, its service
// account's rights, its webhook configurations pointed at a URL.
type Shipgate struct {
	// Addr is host:port it listens on; URL is https://Addr.
	Addr string
	URL  string
	// ConfigFile is the GatewayConfig from the chart's ConfigMap.
	ConfigFile string
	// StoreURL is the SQLite store; StorePath its file. The generated
	// checkpoint key is beside it (CheckpointPub).
	StoreURL  string
	StorePath string
	CertFile  string
	KeyFile   string
	// Kubeconfig authenticates as the chart's service account.
	Kubeconfig string
	// Manifest is the chart as rendered for this install.
	Manifest *Manifest

	c      *Cluster
	name   string // of its process and log: "shipgate", or the replica's
	proc   *Process
	client *http.Client
}

// CheckpointPub is the verifier key of the audit log's checkpoints, which
// serve generates beside a SQLite store.
func (s *Shipgate) CheckpointPub() string { return s.StorePath + ".checkpoint.pub" }

// Start starts `shipgate serve` and waits for /readyz; after Stop or Kill
// it starts it again, its log going on in the same file.
func (s *Shipgate) Start(ctx context.Context) error {
	if s.proc != nil {
		if done, _ := s.proc.Exited(); !done {
			return fmt.Errorf("starting %s: already running", s.name)
		}
	}
	p, err := s.c.start(s.name, s.c.Bins.Shipgate, []string{
		"serve",
		"--config=" + s.ConfigFile,
		"--addr=" + s.Addr,
		"--tls-cert-file=" + s.CertFile,
		"--tls-key-file=" + s.KeyFile,
		"--store=" + s.StoreURL,
		"--kubeconfig=" + s.Kubeconfig,
		"--namespace=" + Namespace,
		"--shutdown-grace=5s",
		"--log-level=debug",
	})
	if err != nil {
		return err
	}
	s.proc = p
	return waitFor(ctx, s.name+" /readyz", p, startTimeout, func(ctx context.Context) error {
		return s.get(ctx, "/readyz")
	})
}

// Stop stops shipgate with SIGTERM: in-flight admissions finish and the
// audit log writes its last checkpoint.
func (s *Shipgate) Stop() error {
	if s.proc == nil {
		return nil
	}
	return s.proc.Stop(20 * time.Second)
}

// Kill kills shipgate with SIGKILL, as a node failure or the OOM killer
// would: nothing is released or flushed.
func (s *Shipgate) Kill() error {
	if s.proc == nil {
		return nil
	}
	return s.proc.Kill()
}

// get GETs a path of shipgate over TLS checked against the run's CA.
func (s *Shipgate) get(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return nil
}

// CLI runs another shipgate command (audit verify, …) and returns its
// output; a non-zero exit is an error carrying the output.
func (s *Shipgate) CLI(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.c.Bins.Shipgate, args...)
	cmd.Env = cleanEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("running shipgate %v: %w\n%s", args, err, out.String())
	}
	return out.String(), nil
}

// tlsClient trusts only the run's CA.
func tlsClient(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("reading the run's CA: no certificate")
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}

// API runs a shipgate command that calls the gateway's REST API (approvals
// approve, audit query, …) as a user of the token file: --server, --token
// and --certificate-authority are added. It returns what the command
// printed (stdout and stderr together) and an error when it exited
// non-zero.
func (s *Shipgate) API(ctx context.Context, user string, args ...string) (string, error) {
	u, ok := s.c.Users[user]
	if !ok {
		return "", fmt.Errorf("no user %q in the token file", user)
	}
	full := append(append([]string(nil), args...),
		"--server", s.URL, "--token", u.Token, "--certificate-authority", s.c.CA.CertFile)
	out, err := s.CLI(ctx, full...)
	if err != nil {
		// Failure messages name the command line: not the token.
		err = errors.New(strings.ReplaceAll(err.Error(), u.Token, "<"+user+"'s token>"))
	}
	return out, err
}

// LogLine is one decision shipgate logged ("admission decision").
type LogLine struct {
	Decision  string   `json:"decision"`
	Webhook   string   `json:"webhook"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	User      string   `json:"user"`
	Class     string   `json:"class"`
	Verdict   string   `json:"verdict"`
	Reasons   []string `json:"reasons"`
}

// Decision finds the log line of decision id (the id kubectl's message
// and the audit record carry) in shipgate's JSON log.
func (s *Shipgate) Decision(id string) (LogLine, error) {
	lines := s.Decisions(func(l LogLine) bool { return l.Decision == id })
	if len(lines) == 0 {
		return LogLine{}, fmt.Errorf("shipgate logged no decision %q", id)
	}
	return lines[0], nil
}

// Decisions are the decisions in shipgate's JSON log that keep says to
// keep, in order.
func (s *Shipgate) Decisions(keep func(LogLine) bool) []LogLine {
	if s.proc == nil {
		return nil
	}
	b, err := os.ReadFile(s.proc.LogPath)
	if err != nil {
		return nil
	}
	var out []LogLine
	for _, line := range bytes.Split(b, []byte("\n")) {
		if !bytes.Contains(line, []byte(`"admission decision"`)) {
			continue
		}
		var l LogLine
		if json.Unmarshal(line, &l) == nil && keep(l) {
			out = append(out, l)
		}
	}
	return out
}
