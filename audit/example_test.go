package audit_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Example appends a record, signs a checkpoint and proves the record is in
// the tree the checkpoint commits to.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "shipgate.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	skey, vkey, err := audit.GenerateKey("shipgate.example/cluster-1")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := audit.NewSigner(skey)
	if err != nil {
		log.Fatal(err)
	}
	l, err := audit.New(db, audit.WithCheckpoints(signer, 1000, time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	rec := audit.Record{
		Event: audit.EventAdmission, User: audit.User{Username: "ci"},
		Operation: "CREATE", Kind: "Deployment", Namespace: "prod", Name: "api",
		Decision: audit.DecisionAdmitted, RequestUID: "7d1c3a52",
	}
	seq, err := l.Append(ctx, rec)
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Close(); err != nil { // signs a checkpoint at size 1
		log.Fatal(err)
	}

	verifiers, err := audit.NewVerifiers(vkey)
	if err != nil {
		log.Fatal(err)
	}
	signed, err := l.Checkpoint(ctx)
	if err != nil {
		log.Fatal(err)
	}
	cp, err := audit.OpenCheckpoint(signed, verifiers)
	if err != nil {
		log.Fatal(err)
	}
	p, err := l.InclusionProof(ctx, seq, cp.Size)
	if err != nil {
		log.Fatal(err)
	}
	entries, _, err := l.Query(ctx, audit.Filter{Namespace: "prod"}, "", 10)
	if err != nil {
		log.Fatal(err)
	}
	leaf, err := audit.Leaf(entries[0].Record)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("seq", seq, "checkpoint size", cp.Size)
	fmt.Println("included:", proof.VerifyInclusion(rfc6962.DefaultHasher, seq, cp.Size, leaf, p, cp.Hash) == nil)
	rep, err := audit.Verify(ctx, db, verifiers, audit.VerifyOptions{})
	fmt.Println("verified:", rep.Size, "records,", rep.Checkpoints, "checkpoint,", err)
	// Output:
	// seq 0 checkpoint size 1
	// included: true
	// verified: 1 records, 1 checkpoint, <nil>
}
