package webhook

import (
	"context"
	"time"
)

// minRecordReserve is the least time kept back for the audit append: a
// group commit with a few writers takes milliseconds on either store
// (docs/performance.md), so 100 ms covers a busy one.
const minRecordReserve = 100 * time.Millisecond

// decideContext is the context the pipeline's steps run under: ctx's
// deadline less a reserve for recording the decision, a tenth of the time
// left and at least minRecordReserve. Without the reserve a slow registry
// would use the whole budget and leave the audit append none, so a warn
// namespace's admission would go unrecorded and an enforced refusal
// unlogged. With no recorder, or too little time for a reserve, it is ctx.
func (v *Validator) decideContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok || v.opts.recorder == nil {
		return context.WithCancel(ctx)
	}
	left := time.Until(dl)
	reserve := max(left/10, minRecordReserve)
	if reserve >= left/2 {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-reserve))
}
