package policy

import (
	"context"
	"fmt"
	"io"

	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
)

// Trace is OPA's trace of the query of one policy set, for explaining a
// decision as `opa eval --explain` does.
type Trace struct {
	// Set is the policy set as bound, or "shipgate.namespaces.<namespace>"
	// for the namespace's own policy (as in Message).
	Set    string
	Events []*topdown.Event
}

// Explain modes, named as `opa eval --explain` names them.
const (
	// ExplainFull is every event but unifications.
	ExplainFull = "full"
	// ExplainNotes is the trace() notes, each with the rules and bodies
	// that led to it.
	ExplainNotes = "notes"
	// ExplainFails is each failed expression, with the rules and bodies
	// that led to it.
	ExplainFails = "fails"
)

// ExplainModes are the modes Trace.Write accepts.
var ExplainModes = []string{ExplainFull, ExplainNotes, ExplainFails}

// Explain evaluates as Evaluate does, on the same compiled queries, and
// records OPA's trace of each set it evaluated. On an error the traces of
// the sets evaluated so far, the failing one included, are returned with
// it: they show where evaluation stopped. Tracing is slow; a command
// explains, admission does not.
func (e *Engine) Explain(ctx context.Context, namespace string, sets []string, input any) (Result, []Trace, error) {
	var traces []Trace
	var buffers []*topdown.BufferTracer
	res, err := e.evaluate(ctx, namespace, sets, input, func(set string) topdown.QueryTracer {
		b := topdown.NewBufferTracer()
		traces = append(traces, Trace{Set: set})
		buffers = append(buffers, b)
		return b
	})
	for i, b := range buffers {
		traces[i].Events = *b
	}
	return res, traces, err
}

// tracerFor is the tracer of one set, nil when not tracing.
func tracerFor(trace func(string) topdown.QueryTracer, set string) topdown.QueryTracer {
	if trace == nil {
		return nil
	}
	return trace(set)
}

// Filter returns the events mode keeps, as `opa eval --explain` filters
// them (topdown/lineage).
func (t Trace) Filter(mode string) ([]*topdown.Event, error) {
	switch mode {
	case ExplainFull:
		return lineage.Full(t.Events), nil
	case ExplainNotes:
		return lineage.Notes(t.Events), nil
	case ExplainFails:
		return lineage.Fails(t.Events), nil
	}
	return nil, fmt.Errorf("explain mode %q: want %s, %s or %s", mode, ExplainFull, ExplainNotes, ExplainFails)
}

// Write prints the events mode keeps as OPA's pretty trace, each line led
// by its file:line.
func (t Trace) Write(w io.Writer, mode string) error {
	events, err := t.Filter(mode)
	if err != nil {
		return err
	}
	topdown.PrettyTraceWithLocation(w, events)
	return nil
}
