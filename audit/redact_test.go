package audit_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store/storetest"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

func TestRedactStillVerifies(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			key := newKey(t, "shipgate.test/redact")
			db := storetest.Open(t, d)
			l := newLog(t, db, audit.WithCheckpoints(key.signer, 5, 0))
			appendN(t, l, 0, 5)
			before, _, _ := l.Query(ctx, audit.Filter{}, "", 10)
			leaf2, _ := audit.Leaf(before[2].Record)
			admin := audit.User{Username: "alice", Groups: []string{"security"}}

			rseq, err := l.Redact(ctx, 2, "a token pasted into an env var", admin)
			if err != nil || rseq != 5 {
				t.Fatalf("Redact = %d, %v; want the redaction record at 5", rseq, err)
			}
			rep, err := audit.Verify(ctx, db, key.verifiers, audit.VerifyOptions{})
			if err != nil || rep.Redacted != 1 || rep.Size != 6 {
				t.Fatalf("Verify after a redaction = %+v, %v", rep, err)
			}
			got, _, err := l.Query(ctx, audit.Filter{}, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			red, by := got[2], got[5]
			if !red.Redacted || red.Record.Evidence != nil || red.Record.Reasons != nil || red.Record.PolicyRevision != "" ||
				red.Record.Name != "api-2" || red.Record.Namespace != "prod" || red.Record.User.Username != "dev-2" || !red.Record.Time.Equal(before[2].Record.Time) {
				t.Errorf("redacted record = %+v", red)
			}
			var details audit.Redaction
			if err := json.Unmarshal(by.Record.Details, &details); err != nil || by.Record.Event != audit.EventRedaction ||
				by.Record.User.Username != "alice" || details.Seq != 2 || details.Reason != "a token pasted into an env var" {
				t.Errorf("redaction record = %+v (%+v, %v)", by, details, err)
			}
			// The tree is untouched: the original leaf is still proven in it.
			_, root, _ := l.Root(ctx)
			p, err := l.InclusionProof(ctx, 2, 6)
			if err != nil || proof.VerifyInclusion(rfc6962.DefaultHasher, 2, 6, leaf2, p, root) != nil {
				t.Errorf("the redacted record's original leaf is no longer proven: %v", err)
			}

			for name, tc := range map[string]struct {
				seq    uint64
				reason string
				want   error
			}{
				"twice":     {2, "again", audit.ErrAlreadyRedacted},
				"missing":   {99, "gone", audit.ErrNotFound},
				"no reason": {3, "  ", audit.ErrInvalidArguments},
			} {
				if _, err := l.Redact(ctx, tc.seq, tc.reason, admin); !errors.Is(err, tc.want) {
					t.Errorf("Redact %s = %v, want %v", name, err, tc.want)
				}
			}
			if size, _ := l.Size(ctx); size != 6 {
				t.Errorf("refused redactions left the log at %d records, want 6", size)
			}

			l.Close()
			if _, err := l.Redact(ctx, 3, "late", admin); !errors.Is(err, audit.ErrClosed) {
				t.Errorf("Redact after Close = %v, want ErrClosed", err)
			}

			// The redaction record itself cannot be dropped.
			(tamperLog{db: db}).exec(t, "DELETE FROM audit_log WHERE seq = 5")
			(tamperLog{db: db}).rebuildHead(t)
			_, err = audit.Verify(ctx, db, key.verifiers, audit.VerifyOptions{})
			if err == nil || !strings.HasPrefix(err.Error(), "record 2: redacted without a redaction record") {
				t.Errorf("without its redaction record: Verify = %v", err)
			}
		})
	}
}
