package webhook

import (
	"log/slog"

	"github.com/shipgate/shipgate/workload"
)

// slogLevel logs rollouts and anything with reasons at info; the bulk of
// requests (ignored, inherited, excluded) at debug.
func slogLevel(d *Decision) slog.Level {
	if len(d.Reasons) > 0 || !d.Allowed || d.Class == workload.Rollout.String() {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func reasonMessages(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Message
	}
	return out
}
