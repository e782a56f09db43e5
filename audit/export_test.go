package audit

import (
	"time"
)

// WithIndexSteps sets the steps that add records to the lookups by object
// and image on SQLite (index.go): every step records or every every, at
// least chunk rows a batch. step ≤ 0 runs none, not even at Close, as a
// process that was killed leaves the log.
func WithIndexSteps(step, chunk int, every time.Duration) Option {
	return func(o *options) { o.indexStep, o.indexChunk, o.indexEvery = step, chunk, every }
}

// WithWALRestart sets the WAL length, in frames, past which the writer
// finishes a checkpoint so that the WAL starts over (walRestartFrames).
func WithWALRestart(frames int) Option {
	return func(o *options) { o.walRestart = frames }
}
