package webhook

import (
	"context"
	"fmt"
	"net/http"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/workload"
)

// WithPins sets where rollout records and pins are kept. Without it,
// inherited Pods are not pinned and nothing is recorded.
func WithPins(p signer.Pins) Option {
	return func(o *options) { o.pins = p }
}

// podOwners are the kinds whose inherited objects own Pods in turn and
// so keep a pin of their own.
var podOwners = map[string]bool{"ReplicaSet": true, "Job": true, "ReplicationController": true}

// recordRollout prepares the record of an admitted rollout, with its
// digests, before it is answered: inherited Pods are pinned from it. With
// an audit recorder it is written in the transaction that appends the
// rollout's audit record (record); without one it is written here. In an
// enforced namespace a rollout whose record cannot be written is refused.
func (v *Validator) recordRollout(ctx context.Context, d *Decision, obj *workload.Object) {
	p := v.opts.pins
	if p == nil || d.DryRun || !d.Allowed || d.Class != workload.Rollout.String() || len(d.digests) == 0 {
		return
	}
	r := signer.Rollout{
		Fingerprint: d.Fingerprint, Namespace: d.Namespace, Kind: d.Kind, Name: d.Name, UID: string(obj.UID),
		Digests: d.digests, DecisionID: d.ID, AdmittedAt: v.opts.now(),
	}
	var err error
	if v.opts.recorder != nil && mustRecord(d) {
		d.rollout, d.remember, err = p.RolloutWrite(r)
	} else {
		err = p.PutRollout(ctx, r)
	}
	if err == nil {
		return
	}
	v.opts.log.Error("recording the rollout failed", "decision", d.ID, "error", err.Error())
	if d.Mode == config.ModeEnforce {
		d.refuse(http.StatusServiceUnavailable, "audit-unavailable", "audit store unavailable, so the rollout and its digests cannot be recorded: %v", err)
		d.Allowed = false
		return
	}
	d.Warnings = append(d.Warnings, fmt.Sprintf("shipgate: %s was admitted but its digests were not recorded: %v (decision %s)", d.object(), err, d.ID))
}

// inherit passes an inherited object on its owner's record: a ReplicaSet
// or Job copies the owner's pin, and every inherited object is counted on
// the rollout's record. An owner with no pin (admitted before shipgate
// kept pins) leaves nothing to copy; the object still inherits.
func (v *Validator) inherit(ctx context.Context, d *Decision, obj *workload.Object, owner string, ownerName string) {
	p := v.opts.pins
	if p == nil || d.DryRun {
		return
	}
	pin, ok, err := p.GetPin(ctx, d.Namespace, owner, ownerName)
	if err == nil && ok {
		d.Fingerprint = pin.Fingerprint
		if podOwners[d.Kind] {
			err = p.PutPin(ctx, d.Namespace, d.Kind, obj.Name, pin)
		} else {
			err = p.CountInherited(ctx, pin.Fingerprint)
		}
	}
	if err != nil {
		// The object inherits either way; its Pods may go unpinned.
		v.opts.log.Warn("passing the rollout's pin on failed", "decision", d.ID, "owner", owner+"/"+ownerName, "error", err.Error())
		d.Notes = append(d.Notes, "pin not passed on: "+err.Error())
	}
}
