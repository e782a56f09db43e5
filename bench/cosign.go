package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shipgate/shipgate/signer"
)

// cosignModule is the cosign CLI the cold path is compared with, at the
// version shipgate's go.mod requires.
const cosignModule = "github.com/sigstore/cosign/v2"

// cosignPeer runs the cosign CLI offline, the way a CI script would gate
// on an image: `cosign verify` with the release key, then `cosign
// verify-attestation` of the test-result predicate with the CI key, by
// key, with no transparency log, and a trusted root with nothing in it so
// that cosign never reaches for TUF.
type cosignPeer struct {
	bin, home, releasePub, ciPub, root string
}

func newCosignPeer(bin, dir string, keys *signers) (*cosignPeer, error) {
	p := &cosignPeer{bin: bin, home: filepath.Join(dir, "home"),
		releasePub: filepath.Join(dir, "release.pub"), ciPub: filepath.Join(dir, "ci.pub"), root: filepath.Join(dir, "trusted_root.json")}
	if err := os.MkdirAll(p.home, 0o755); err != nil {
		return nil, err
	}
	for path, sv := range map[string]*signers{p.releasePub: keys, p.ciPub: keys} {
		k := sv.release
		if path == p.ciPub {
			k = sv.ci
		}
		pem, err := publicPEM(k)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(pem+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	const root = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`
	if err := os.WriteFile(p.root, []byte(root), 0o644); err != nil {
		return nil, err
	}
	return p, nil
}

// cosignVersion is what `cosign version --json` reports.
func cosignVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("running %s version: %w", bin, err)
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", fmt.Errorf("reading %s version: %w", bin, err)
	}
	return v.GitVersion, nil
}

// cosignRun is one cosign process: its wall time, CPU and peak RSS.
type cosignRun struct {
	wall, cpu time.Duration
	maxRSS    int64 // bytes
}

func (p *cosignPeer) run(ctx context.Context, args ...string) (cosignRun, error) {
	cmd := exec.CommandContext(ctx, p.bin, args...)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "COSIGN_") || strings.HasPrefix(k, "SIGSTORE_") || strings.HasPrefix(k, "XDG_") ||
			strings.HasSuffix(strings.ToUpper(k), "_PROXY") || k == "HOME" || k == "TUF_ROOT" || k == "DOCKER_CONFIG" {
			continue
		}
		env = append(env, kv)
	}
	// Anything but the loopback registry goes to a closed port and fails.
	const nowhere = "http://127.0.0.1:9"
	cmd.Env = append(env, "HOME="+p.home, "TUF_ROOT="+filepath.Join(p.home, ".sigstore"),
		"DOCKER_CONFIG="+filepath.Join(p.home, ".docker"), "XDG_CACHE_HOME="+filepath.Join(p.home, ".cache"),
		"XDG_CONFIG_HOME="+filepath.Join(p.home, ".config"),
		"HTTP_PROXY="+nowhere, "HTTPS_PROXY="+nowhere, "http_proxy="+nowhere, "https_proxy="+nowhere, "NO_PROXY=", "no_proxy=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return cosignRun{}, fmt.Errorf("cosign %s: %w", args[0], err)
	}
	// The child's rusage maxrss is no use here: Linux carries the
	// pre-exec (vfork: this process's) high-water mark into it. Sample
	// VmHWM instead while cosign runs.
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if _, hwm, err := procMemory(cmd.Process.Pid); err == nil {
				peak.Store(max(peak.Load(), hwm))
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stopSampling)
	<-sampled
	r := cosignRun{wall: time.Since(start), maxRSS: peak.Load()}
	if st := cmd.ProcessState; st != nil {
		r.cpu = st.UserTime() + st.SystemTime()
	}
	if err != nil {
		return r, fmt.Errorf("cosign %s: %w\n%s", args[0], err, tail2(out.String(), 5))
	}
	return r, nil
}

func tail2(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// verifyImage is what CI runs per image: verify the signature, then the
// test-result attestation. It returns the two runs together.
func (p *cosignPeer) verifyImage(ctx context.Context, ref string) (cosignRun, error) {
	a, err := p.run(ctx, "verify", "--key", p.releasePub, "--insecure-ignore-tlog=true", "--trusted-root", p.root, ref)
	if err != nil {
		return a, err
	}
	b, err := p.run(ctx, "verify-attestation", "--key", p.ciPub, "--insecure-ignore-tlog=true", "--trusted-root", p.root,
		"--type", signer.TestResultPredicateType, ref)
	return cosignRun{wall: a.wall + b.wall, cpu: a.cpu + b.cpu, maxRSS: max(a.maxRSS, b.maxRSS)}, err
}
