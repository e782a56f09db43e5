package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// The CronJob of the inheritance scenarios, and the Job the deployer makes
// from it by hand.
const (
	cronName = "report"
	// cronSchedule: every 10 seconds from the CronJob's creation. The API
	// server and the cronjob controller take robfig/cron's @every; the
	// usual "*/1 * * * *" would make the suite wait up to a minute for the
	// first Job. concurrencyPolicy Forbid keeps it to that one Job: with no
	// nodes its Pod never runs, so the Job never finishes.
	cronSchedule = "@every 10s"
	handJobName  = "report-by-hand"
)

// cronJob is a CronJob manifest with one container.
func cronJob(ns, name, image string) string {
	return fmt.Sprintf(`apiVersion: batch/v1
kind: CronJob
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  schedule: %[4]q
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: report
            image: %[3]s
`, ns, name, image, cronSchedule)
}

// testCronJobAdmitted: the deployer applies a CronJob of a signed, tested
// image in the enforced namespace; it is admitted and recorded. Its
// schedule runs while the next scenarios do; testCronJobInherits looks at
// what the controllers made.
func testCronJobAdmitted(ctx context.Context, t *testing.T, e *env) {
	r := e.c.Kubectl(ctx, harness.Deployer, cronJob(enforced, cronName, e.im.Ref(reportTag)), "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want the signed CronJob admitted:\n%s", r)
	}
	e.expect(admission("CronJob", enforced, cronName, "admitted", harness.Deployer))
}

// testCronJobInherits: the cronjob controller's Job (its service account,
// ownerReference to the CronJob) and the job controller's Pod inherit the
// CronJob's decision: shipgate's log says inherited, the audit log keeps
// no record of them, and the Pod is pinned to the digest recorded when the
// CronJob was admitted. Then the deployer runs the CronJob by hand
// (kubectl create job --from=cronjob/…): kubectl also names the CronJob as
// the Job's controller, but the request is the deployer's, so shipgate
// judges it as a bare Job, a rollout recorded on its own; its Pod inherits
// from it and is pinned too.
func testCronJobInherits(ctx context.Context, t *testing.T, e *env) {
	var job batchv1.Job
	eventually(ctx, t, "the cronjob controller creating a Job", 90*time.Second, func(ctx context.Context) error {
		l, err := e.c.Admin.BatchV1().Jobs(enforced).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, j := range l.Items {
			if ref := metav1.GetControllerOf(&j); ref != nil && ref.Kind == "CronJob" && ref.Name == cronName && j.Name != handJobName {
				job = j
				return nil
			}
		}
		return fmt.Errorf("%d Jobs, none made by the cronjob controller", len(l.Items))
	})
	for _, p := range waitPods(ctx, t, e, enforced, "batch.kubernetes.io/job-name="+job.Name, 1) {
		wantImage(t, p, e.im.Pinned(reportTag))
	}
	wantInherited(t, e, enforced, "Job", job.Name, 1)
	wantInherited(t, e, enforced, "Pod", job.Name+"-", 1)
	e.log.Printf("the cronjob controller's Job %s and its Pod inherited from CronJob %s", job.Name, cronName)

	r := e.c.Kubectl(ctx, harness.Deployer, "", "create", "job", "-n", enforced, handJobName, "--from=cronjob/"+cronName)
	if r.Err != nil || strings.Contains(r.Stderr, "shipgate") {
		t.Fatalf("want the Job made by hand admitted without a word from shipgate:\n%s", r)
	}
	e.expect(admission("Job", enforced, handJobName, "admitted", harness.Deployer))
	wantRolloutAdmitted(t, e, "Job", enforced, handJobName)
	for _, p := range waitPods(ctx, t, e, enforced, "batch.kubernetes.io/job-name="+handJobName, 1) {
		wantImage(t, p, e.im.Pinned(reportTag))
	}
	wantInherited(t, e, enforced, "Pod", handJobName+"-", 1)
}
