package kube

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/shipgate/shipgate/internal/kube"
)

// elect stands for the Lease until ctx ends, and writes statuses while it
// holds it. A replica that loses the Lease stands again.
func (s *Source) elect(ctx context.Context) {
	e := &elector{
		client:        clientLeases{s.client},
		namespace:     s.o.namespace,
		name:          s.o.lease,
		identity:      s.o.identity,
		leaseDuration: s.o.leaseDuration,
		renewDeadline: s.o.renewDeadline,
		retryPeriod:   s.o.retryPeriod,
		now:           time.Now,
		// Statuses are only annotations: a write that finishes after the
		// Lease is lost costs nothing but a duplicate.
		onStartedLeading: s.writer.lead,
		onNewLeader: func(id string) {
			s.o.log.Info("policy status writer", "lease", s.o.namespace+"/"+s.o.lease, "holder", id, "self", id == s.o.identity)
		},
		log: s.o.log,
	}
	e.run(ctx)
}

// clientLeases reads and writes Leases through the cluster client.
type clientLeases struct{ c *kube.Client }

func (l clientLeases) getLease(ctx context.Context, namespace, name string) (*coordinationv1.Lease, error) {
	var lease coordinationv1.Lease
	if err := l.c.Get(ctx, kube.Leases, namespace, name, &lease); err != nil {
		return nil, err
	}
	return &lease, nil
}

func (l clientLeases) createLease(ctx context.Context, lease *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	var out coordinationv1.Lease
	if err := l.c.Create(ctx, kube.Leases, lease.Namespace, lease, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (l clientLeases) updateLease(ctx context.Context, lease *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	var out coordinationv1.Lease
	if err := l.c.Update(ctx, kube.Leases, lease.Namespace, lease, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
