package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Result is what a kubectl run printed and how it ended.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	// Err is nil when kubectl exited 0.
	Err  error
	Took time.Duration
}

// String shows the run for a failure message.
func (r Result) String() string {
	return fmt.Sprintf("kubectl %s (%s, err %v)\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.Args, " "), r.Took.Round(time.Millisecond), r.Err, r.Stdout, r.Stderr)
}

// Kubectl runs the built kubectl as a user of the token file, with stdin
// (may be empty). Its stderr is what a user reads when a request is
// refused.
func (c *Cluster) Kubectl(ctx context.Context, user, stdin string, args ...string) Result {
	full := append([]string{"--kubeconfig", c.Kubeconfig(user)}, args...)
	cmd := exec.CommandContext(ctx, c.Bins.Kubectl, full...)
	// kubectl caches discovery under $HOME/.kube; keep it in the run.
	cmd.Env = append(cleanEnv(), "HOME="+filepath.Join(c.Dir, "home-"+sanitize(user)))
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	return Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Err: err, Took: time.Since(start)}
}

// MustKubectl is Kubectl that turns a failed run into an error.
func (c *Cluster) MustKubectl(ctx context.Context, user, stdin string, args ...string) (string, error) {
	r := c.Kubectl(ctx, user, stdin, args...)
	if r.Err != nil {
		return "", fmt.Errorf("running %s", r)
	}
	return r.Stdout, nil
}
