package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// state is what a verifier remembers between runs: the last checkpoint it
// verified (or the verified head when the log had no checkpoint).
type state struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
	Note string `json:"note,omitempty"`
}

// readState reads the state file; a missing file is no prior state.
func readState(path string) (*state, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the verification state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil || len(s.Root) != hashSize {
		return nil, fmt.Errorf("reading the verification state %s: malformed", path)
	}
	return &s, nil
}

// writeState replaces the state file atomically.
func writeState(path string, s state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-state-*")
	if err != nil {
		return fmt.Errorf("writing the verification state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the verification state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the verification state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the verification state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the verification state: %w", err)
	}
	return nil
}

// checkPrior checks that the log still extends the prior checkpoint: it is
// no smaller, and a consistency proof from the prior size to today's, built
// from the stored leaves, verifies against the prior root.
func (v *verifier) checkPrior(prior *state, leaves []byte, rootThen []byte) {
	n := uint64(len(leaves) / hashSize)
	if prior.Size > n {
		v.fail(n, "record %d missing: an earlier verification saw %d records", n, prior.Size)
		return
	}
	rootNow, err := subtreeRoot(leaves)
	if err != nil {
		v.fail(prior.Size, "checkpoint at size %d (earlier verification): %v", prior.Size, err)
		return
	}
	nodes, err := proof.Consistency(prior.Size, n)
	var p [][]byte
	if err == nil {
		p, err = proofHashes(nodes, leaves)
	}
	if err == nil {
		err = proof.VerifyConsistency(hasher, prior.Size, n, p, prior.Root, rootNow)
	}
	if err != nil || (prior.Size > 0 && !sameRoot(rootThen, prior.Root)) {
		v.fail(prior.Size, "checkpoint at size %d (earlier verification): root differs: the log was rewritten", prior.Size)
	}
}

// latest is the state to remember: the largest verified checkpoint, or the
// verified head when there is none.
func (v *verifier) latest(cps []checkpointRow, rng *compact.Range) state {
	for i := len(cps) - 1; i >= 0; i-- {
		if cps[i].ok && cps[i].size <= rng.End() {
			return state{Size: cps[i].size, Root: cps[i].root, Note: cps[i].note}
		}
	}
	root, _ := rootOf(rng)
	return state{Size: rng.End(), Root: root}
}
