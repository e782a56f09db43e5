package main

import (
	"fmt"
	"hash/fnv"

	admissionv1 "k8s.io/api/admission/v1"
)

// The scenarios, in the order they run.
const (
	podWarm = "pod-warm"
	rollout = "rollout"
	mixed   = "mixed"
	cold    = "cold"
	memory  = "memory"
	// memoryAgain is the memory scenario's first digests admitted again.
	memoryAgain = "memory-again"
)

var allScenarios = []string{podWarm, rollout, mixed, cold, memory}

// versions are the releases in the registry: each Deployment moves between
// them. The first is the one bare Pods run.
var versions = []string{"2.7.1", "2.7.2", "2.7.3", "2.7.4"}

// proxyVersions are the sidecar's releases, one beside each app version.
var proxyVersions = []string{"1.31.1", "1.31.2", "1.31.3", "1.31.4"}

// fleet is what the registry holds before the timed phases: the app and
// its proxy at every version (signed, test-attested, verified once by the
// warm-up) and the pool of never-seen images for cold.
type fleet struct {
	host    string
	app     []pushed // by version
	proxy   []pushed
	cold    []pushed
	digests map[string]string // reference by tag → digest
}

func (f *fleet) images(v int) images {
	return images{app: f.app[v%len(f.app)].ref, proxy: f.proxy[v%len(f.proxy)].ref}
}

// restarted is the restartedAt annotation of the i-th rollout.
func restarted(i int) string {
	return fmt.Sprintf("2026-11-26T%02d:%02d:%02dZ", 10+i/3600%12, i/60%60, i%60)
}

// podWarmUnits are bare Pod CREATEs (no controller owns them, so each is a
// rollout of its own, judged in full) whose images are pinned as /mutate
// leaves them and were verified before: a cache hit, no registry request;
// then the cluster's and the namespace's Rego, and the durable audit
// append and rollout record of an admitted rollout.
func podWarmUnits(f *fleet, n int) [][]*request {
	out := make([][]*request, n)
	for i := range n {
		v := i % len(versions)
		tmpl := pinned(podTemplate("checkout", versions[v], f.images(v), ""), f.digests)
		name := fmt.Sprintf("checkout-debug-%05d", i)
		p := pod(name, tmpl, nil, nil)
		r := review("validate", podKind, admissionv1.Create, name, p, nil, deployerUser, deployerGroups)
		out[i] = []*request{&r}
	}
	return out
}

// rolloutUnits are Deployment UPDATEs that change the pod template, images
// by tag: each moves one of 64 Deployments to the next version (and
// restarts it), so each is a rollout whose two tags shipgate resolves
// (one HEAD each) to digests it has verified before, then Rego, then the
// durable audit append.
func rolloutUnits(f *fleet, n int) [][]*request {
	out := make([][]*request, n)
	for i := range n {
		name := fmt.Sprintf("checkout-%02d", i%64)
		v := (i / 64) % len(versions)
		old := deployment(name, versions[v], f.images(v), restarted(i))
		nv := (v + 1) % len(versions)
		obj := deployment(name, versions[nv], f.images(nv), restarted(i+1))
		obj.Generation = old.Generation + 1
		r := review("validate", deploymentKind, admissionv1.Update, name, obj, old, deployerUser, deployerGroups)
		out[i] = []*request{&r}
	}
	return out
}

// mixedUnits are the admissions one Deployment rollout makes in a
// cluster, in order: /mutate and /validate of the Deployment UPDATE (by
// the deployer), of the ReplicaSet the deployment controller creates, and
// of each of its pods Pods the replicaset controller creates. The
// ReplicaSet and the Pods inherit: shipgate looks their owner up in the
// API server and passes the rollout's record on; the Pods reach /mutate
// by tag and /validate pinned, as the API server would send them after
// applying the mutation.
func mixedUnits(f *fleet, n, pods int) [][]*request {
	out := make([][]*request, n)
	for i := range n {
		name := fmt.Sprintf("web-%02d", i%64)
		v := (i / 64) % len(versions)
		nv := (v + 1) % len(versions)
		old := deployment(name, versions[v], f.images(v), restarted(i))
		obj := deployment(name, versions[nv], f.images(nv), restarted(i+1))
		obj.Generation = old.Generation + 1
		rs := replicaSet(obj, templateHash(name, nv, i))
		var unit []*request
		add := func(r request) { unit = append(unit, &r) }
		for _, wh := range []string{"mutate", "validate"} {
			add(review(wh, deploymentKind, admissionv1.Update, name, obj, old, deployerUser, deployerGroups))
		}
		for _, wh := range []string{"mutate", "validate"} {
			add(review(wh, replicaSetKind, admissionv1.Create, rs.Name, rs, nil, deploymentCtrl, controllerGroups))
		}
		for j := range pods {
			pname := fmt.Sprintf("%s-%05x", rs.Name, j)
			add(review("mutate", podKind, admissionv1.Create, pname, pod(pname, rs.Spec.Template, rs, nil), nil, replicaSetCtrl, controllerGroups))
			add(review("validate", podKind, admissionv1.Create, pname, pod(pname, pinned(rs.Spec.Template, f.digests), rs, nil), nil, replicaSetCtrl, controllerGroups))
		}
		out[i] = unit
	}
	return out
}

// templateHash stands in for the pod-template-hash label.
func templateHash(name string, v, i int) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d/%d", name, v, i)
	return fmt.Sprintf("%08x", h.Sum32())[:8]
}

// coldUnits are Deployment CREATEs each bringing a new build of the app
// (a tag and digest never seen, signed and test-attested in the registry)
// beside the proxy shipgate has verified before: one new image each, which
// shipgate resolves, fetches the signature and attestation of, and
// verifies, then Rego and the audit append.
//
// With dryRun the requests say dryRun: true: shipgate decides them the same
// way but writes nothing (no audit record, no rollout record, nothing
// cached), which separates what verification costs from what durability
// costs.
func coldUnits(f *fleet, prefix string, dryRun bool) [][]*request {
	out := make([][]*request, len(f.cold))
	for i, img := range f.cold {
		name := fmt.Sprintf("%s-%05d", prefix, i)
		d := deployment(name, versions[0], images{app: img.ref, proxy: f.proxy[0].ref}, "")
		r := review("validate", deploymentKind, admissionv1.Create, name, d, nil, deployerUser, deployerGroups)
		if dryRun {
			r = r.dryRun()
		}
		out[i] = []*request{&r}
	}
	return out
}

// memoryUnits are Deployment CREATEs whose five containers each name a
// new image (by digest, as a pinned template would): five never-seen
// digests verified and cached per admission, so the memory scenario
// reaches its count of digests in a fifth of the admissions.
func memoryUnits(imgs []pushed) [][]*request {
	const per = 5
	var out [][]*request
	for i := 0; i+per <= len(imgs); i += per {
		name := fmt.Sprintf("mem-%06d", i/per)
		d := deployment(name, versions[0], images{app: imgs[i].ref, proxy: imgs[i+1].ref}, "")
		spec := &d.Spec.Template.Spec
		cs := append(spec.InitContainers[:1:1], spec.Containers...)
		for j := range cs {
			cs[j].Image = imgs[i+j].ref + "@" + imgs[i+j].digest
		}
		spec.InitContainers, spec.Containers = cs[:1], cs[1:]
		r := review("validate", deploymentKind, admissionv1.Create, name, d, nil, deployerUser, deployerGroups)
		out = append(out, []*request{&r})
	}
	return out
}

// warmUnits are one Deployment CREATE per version: sending them once
// verifies every image the warm scenarios use.
func warmUnits(f *fleet) [][]*request {
	var out [][]*request
	for v := range versions {
		name := fmt.Sprintf("warm-%d", v)
		d := deployment(name, versions[v], f.images(v), "")
		r := review("validate", deploymentKind, admissionv1.Create, name, d, nil, deployerUser, deployerGroups)
		out = append(out, []*request{&r})
	}
	return out
}
