package webhook

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate/config"
)

// Mutator is the /mutate handler. Its one job is to resolve image tags and
// pin Pods to digests; it never denies on its own account and writes
// nothing, and it is idempotent, so the API server may call it again
// (reinvocationPolicy: IfNeeded). Until image resolution exists it answers
// allowed with no patch.
type Mutator struct {
	config func() *config.GatewayConfig
	opts   options
}

var _ Handler = (*Mutator)(nil)

// NewMutator returns the /mutate handler.
func NewMutator(cfg func() *config.GatewayConfig, opts ...Option) *Mutator {
	return &Mutator{config: cfg, opts: newOptions(opts)}
}

// Handle answers allowed; anything that goes wrong becomes a warning, since
// /validate makes the decision and fails closed on its own.
func (m *Mutator) Handle(ctx context.Context, req *Request) (resp Response) {
	id := m.opts.ids()
	defer func() {
		if p := recover(); p != nil {
			m.opts.log.Error("mutate panicked", "decision", id, "uid", req.UID, "panic", fmt.Sprint(p))
			resp = Allowed().WithWarnings("shipgate: images were not pinned: internal error").
				WithAnnotation("decision-id", id)
		}
	}()
	return Allowed().WithAnnotation("decision-id", id)
}
