package kube

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// elect stands for the Lease until ctx ends, and writes statuses while it
// holds it. A replica that loses the Lease stands again.
func (s *Source) elect(ctx context.Context) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: s.o.namespace, Name: s.o.lease},
		Client:     s.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.o.identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          lock,
			Name:          s.o.lease,
			LeaseDuration: s.o.leaseDuration,
			RenewDeadline: s.o.renewDeadline,
			RetryPeriod:   s.o.retryPeriod,
			// Statuses are only annotations: a write that finishes after
			// the release costs nothing but a duplicate.
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: s.writer.lead,
				OnStoppedLeading: func() {},
				OnNewLeader: func(id string) {
					s.o.log.Info("policy status writer", "lease", s.o.namespace+"/"+s.o.lease, "holder", id, "self", id == s.o.identity)
				},
			},
		})
		if err != nil { // only a wrong configuration: the timings
			s.o.log.Error("leader election for policy statuses", "error", err.Error())
			return
		}
		le.Run(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(s.o.retryPeriod):
		}
	}
}
