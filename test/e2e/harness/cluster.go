package harness

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Cluster is a control plane on loopback: etcd, kube-apiserver and
// kube-controller-manager, in temporary directories, on free ports. There
// are no nodes: Pods are created and stay Pending, which is all admission
// needs.
type Cluster struct {
	// Dir holds every file of the run: certificates, kubeconfigs, data,
	// logs.
	Dir  string
	Root string
	Bins Binaries
	CA   *CA
	// Users are the token file's users, by name.
	Users        map[string]User
	APIServerURL string
	// Admin is a client with system:masters.
	Admin kubernetes.Interface

	etcdURL string
	saKey   string
	procs   []*Process
	log     *log.Logger
}

// Options configure StartCluster.
type Options struct {
	// Dir is the run's directory (a test's TempDir).
	Dir string
	// Log receives progress lines with each phase's time.
	Log *log.Logger
}

// StartCluster checks the prebuilt programs are there (failing with what is
// missing), builds shipgate from the working tree (first, so a tree that
// does not compile fails before anything starts), then starts the control
// plane and waits until it is ready. On error everything started is
// stopped.
func StartCluster(ctx context.Context, o Options) (c *Cluster, err error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bins, err := FindBinaries(root)
	if err != nil {
		return nil, err
	}
	logger := o.Log
	if logger == nil {
		logger = log.New(os.Stderr, "e2e: ", log.Ltime)
	}
	c = &Cluster{Dir: o.Dir, Root: root, Bins: bins, log: logger}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("%w\n%s", err, c.Logs(40)), c.Stop())
			c = nil
		}
	}()
	took, err := BuildShipgate(ctx, root, bins)
	if err != nil {
		return c, err
	}
	c.log.Printf("shipgate built in %s (static: no ELF interpreter, no shared libraries)", took.Round(time.Millisecond))
	if c.CA, err = NewCA(c.Dir); err != nil {
		return c, err
	}
	if c.Users, err = newUsers(); err != nil {
		return c, err
	}
	if err = c.phase("etcd", func() error { return c.startEtcd(ctx) }); err != nil {
		return c, err
	}
	if err = c.phase("kube-apiserver", func() error { return c.startAPIServer(ctx) }); err != nil {
		return c, err
	}
	if err = c.phase("kube-controller-manager", func() error { return c.startControllerManager(ctx) }); err != nil {
		return c, err
	}
	return c, nil
}

// phase runs one step and logs how long it took.
func (c *Cluster) phase(name string, f func() error) error {
	start := time.Now()
	if err := f(); err != nil {
		return err
	}
	c.log.Printf("%s ready in %s", name, time.Since(start).Round(time.Millisecond))
	return nil
}

// start starts a process and keeps it for Stop and Logs.
func (c *Cluster) start(name, bin string, args []string) (*Process, error) {
	p, err := StartProcess(name, c.Dir, bin, args, nil)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// Stop stops every process in the reverse order of starting.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].Stop(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	c.procs = nil
	return errors.Join(errs...)
}

// Logs is the tail of every process's log, for a failure message.
func (c *Cluster) Logs(lines int) string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "----- %s (%s), last %d lines -----\n%s\n", p.Name, p.LogPath, lines, p.Tail(lines))
	}
	return b.String()
}

// waitFor polls check every interval until it returns nil, the process
// ends, or the timeout passes; the error then says what it waited for and
// the last check's answer.
func waitFor(ctx context.Context, what string, p *Process, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		if p != nil {
			if done, err := p.Exited(); done {
				return fmt.Errorf("waiting for %s: %s exited (%v); last check: %w", what, p.Name, err, last)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: not within %s; last check: %w", what, timeout, last)
		case <-tick.C:
		}
	}
}
