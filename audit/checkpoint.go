package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// GenerateKey makes an Ed25519 checkpoint key pair named origin, in the
// sumdb note key format: skey for the gateway (a file or Secret), vkey for
// everyone who verifies the log.
func GenerateKey(origin string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("generating a checkpoint key for %q: %w", origin, err)
	}
	return skey, vkey, nil
}

// NewSigner reads a signing key written by GenerateKey.
func NewSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint signing key: %w", err)
	}
	return s, nil
}

// NewVerifiers reads verifier keys, current and rotated out, into the list
// Verify and OpenCheckpoint take.
func NewVerifiers(vkeys ...string) (note.Verifiers, error) {
	vs := make([]note.Verifier, 0, len(vkeys))
	for _, k := range vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("reading checkpoint verifier key: %w", err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}

// OpenCheckpoint checks a signed checkpoint note against verifiers (any one
// key's valid signature suffices, so checkpoints signed before a key
// rotation verify while the old key is listed) and parses it.
func OpenCheckpoint(signed []byte, verifiers note.Verifiers) (*log.Checkpoint, error) {
	if verifiers == nil {
		return nil, fmt.Errorf("opening a checkpoint: no verifier keys: %w", ErrInvalidArguments)
	}
	n, err := note.Open(signed, verifiers)
	if err != nil {
		return nil, fmt.Errorf("opening a checkpoint: %w", err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, fmt.Errorf("opening a checkpoint: %w", err)
	}
	if len(cp.Hash) != hashSize {
		return nil, fmt.Errorf("opening a checkpoint: root of %d bytes", len(cp.Hash))
	}
	return &cp, nil
}

// Checkpoint returns the latest signed checkpoint note.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	var text string
	err := l.db.SQL().QueryRowContext(ctx, "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoCheckpoint
	}
	if err != nil {
		return nil, fmt.Errorf("reading the latest checkpoint: %w", err)
	}
	return []byte(text), nil
}

// writeCheckpoint signs the tree of size leaves with root and stores it.
// Another replica may have signed the same size: the first one stays.
func (l *Log) writeCheckpoint(ctx context.Context, tx *sql.Tx, size uint64, root []byte) error {
	cp := log.Checkpoint{Origin: l.opts.signer.Name(), Size: size, Hash: root}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, l.opts.signer)
	if err != nil {
		return fmt.Errorf("signing the checkpoint at size %d: %w", size, err)
	}
	_, err = tx.ExecContext(ctx, l.db.Rebind("INSERT INTO audit_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING"),
		int64(size), root, string(signed), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("storing the checkpoint at size %d: %w", size, err)
	}
	return nil
}

// checkpointNow signs the current tree unless the latest checkpoint already
// covers it.
func (l *Log) checkpointNow(ctx context.Context) error {
	if l.opts.signer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.commitTimeout)
	defer cancel()
	return l.db.InTx(ctx, func(tx *sql.Tx) error {
		size, rng, err := l.lockHead(ctx, tx)
		if err != nil || size == 0 {
			return err
		}
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT max(size) FROM audit_checkpoints").Scan(&latest); err != nil {
			return fmt.Errorf("reading the latest checkpoint: %w", err)
		}
		if latest.Valid && uint64(latest.Int64) >= size {
			return nil
		}
		root, err := rootOf(rng)
		if err != nil {
			return err
		}
		return l.writeCheckpoint(ctx, tx, size, root)
	})
}

// sameRoot compares two roots.
func sameRoot(a, b []byte) bool { return len(a) == hashSize && bytes.Equal(a, b) }
