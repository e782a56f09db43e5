package shipgate.production_test

import data.shipgate.production

# --- fixtures --------------------------------------------------------------

good_container := {
	"name": "api",
	"image": "registry.example.com/shop/api:1.4.2",
	"resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
	"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
	"env": [
		{"name": "LOG_LEVEL", "value": "info"},
		{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
	],
}

deployment(cs) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "api", "namespace": "prod", "labels": {"app.kubernetes.io/name": "api"}},
	"spec": {"template": {"spec": {"containers": cs}}},
}

review(kind, obj, old) := {"request": {
	"kind": {"group": "apps", "version": "v1", "kind": kind},
	"operation": "UPDATE",
	"object": obj,
	"oldObject": old,
}}

create(obj) := {"request": {
	"kind": {"kind": obj.kind},
	"operation": "CREATE",
	"object": obj,
}}

with_image(img) := object.union(good_container, {"image": img})

with_env(value) := object.union(good_container, {"env": [{"name": "X", "value": value}]})

codes(set) := {d.code | some d in set}

# --- a compliant rollout -----------------------------------------------------

test_compliant_deployment_has_no_denial if {
	count(production.deny) == 0 with input as create(deployment([good_container]))
	count(production.warn) == 0 with input as create(deployment([good_container]))
}

# --- approval ------------------------------------------------------------------

test_create_requires_two_release_managers if {
	r := production.require_approval with input as create(deployment([good_container]))
	r.approvers == 2
	r.groups == ["release-managers"]
	contains(r.reason, "registry.example.com/shop/api:1.4.2")
}

test_scale_without_image_change_needs_no_approval if {
	d := deployment([good_container])
	not production.require_approval with input as review("Deployment", d, d)
}

test_new_image_needs_approval if {
	old := deployment([good_container])
	new := deployment([with_image("registry.example.com/shop/api:1.4.3")])
	production.require_approval.approvers == 2 with input as review("Deployment", new, old)
}

test_shipgate_fact_alone_asks_for_approval if {
	d := deployment([good_container])
	production.require_approval with input as object.union(review("Deployment", d, d), {"shipgate": {"workload": {"imagesChanged": true}}})
}

# --- resources and probes ----------------------------------------------------

test_missing_limits_denied if {
	c := json.patch(good_container, [{"op": "remove", "path": "/resources/limits/memory"}])
	msgs := {d.msg | some d in production.deny} with input as create(deployment([c]))
	msgs == {"container api has no memory limit: set resources.limits.memory"}
}

test_init_container_limits_denied if {
	d := deployment([good_container])
	obj := json.patch(d, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "registry.example.com/shop/migrate:2.0.0"}]}])
	count({x | some x in production.deny; x.code == "SG-PROD-LIMITS"}) == 2 with input as create(obj)
}

test_missing_readiness_denied if {
	c := object.remove(good_container, ["readinessProbe"])
	codes(production.deny) == {"SG-PROD-READINESS"} with input as create(deployment([c]))
}

test_cronjob_needs_no_readiness_but_limits if {
	c := object.remove(good_container, ["readinessProbe", "resources"])
	cj := {"kind": "CronJob", "metadata": {"name": "nightly", "labels": {"app.kubernetes.io/name": "nightly"}}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [c]}}}}}}
	codes(production.deny) == {"SG-PROD-LIMITS"} with input as create(cj)
}

# --- secrets in env values ---------------------------------------------------

test_secret_values_denied if {
	every v in [
		"AKIAIOSFODNN7EXAMPLE",
		"-----BEGIN RSA PRIVATE KEY-----\nMIIEow...",
		"password=hunter2",
		"user=app;Password=s3cr3t;host=db",
		"postgres://app:s3cr3t@db:5432/shop",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"ghp_0123456789abcdefghijABCDEFGHIJklmnopqr",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
		"q8Zr2LmX9vT4pK7wN3bY6cH1",
	] {
		codes(production.deny) == {"SG-PROD-SECRET"} with input as create(deployment([with_env(v)]))
	}
}

test_ordinary_values_allowed if {
	every v in [
		"info",
		"registry.example.com/shop/api",
		"https://api.example.com/v1",
		"ThisIsTheBuildNumber2026",
		"ORDERSERVICEPRIMARYv2",
		"Build2026Release2027Candidate3",
		"0123456789abcdef0123456789abcdef01234567",
		"en_US.UTF-8",
		"-Xmx512m -XX:+UseG1GC",
		"max_connections=100",
	] {
		count(production.deny) == 0 with input as create(deployment([with_env(v)]))
	}
}

test_secret_name_with_reference_allowed if {
	c := object.union(good_container, {"env": [{"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}]})
	count(production.deny) == 0 with input as create(deployment([c]))
}

# --- tags ----------------------------------------------------------------------

test_allowed_tags if {
	every img in [
		"registry.example.com/shop/api:1.4.2",
		"registry.example.com/shop/api:v2.0.0-rc.1+build.7",
		"registry.example.com/shop/api:3f2a9c1",
		"registry.example.com/shop/api:3f2a9c1d0e4b5a6978877665544332211000aaaa",
		"registry.example.com:5000/shop/api:1.0.0",
		"registry.example.com/shop/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"registry.example.com/shop/api:1.4.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	] {
		count(production.deny) == 0 with input as create(deployment([with_image(img)]))
	}
}

test_refused_tags if {
	every img in [
		"registry.example.com/shop/api:latest",
		"registry.example.com/shop/api:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"registry.example.com/shop/api:1.25",
		"registry.example.com/shop/api:stable",
		"registry.example.com/shop/api",
		"registry.example.com:5000/shop/api",
		"nginx",
	] {
		codes(production.deny) == {"SG-PROD-TAG"} with input as create(deployment([with_image(img)]))
	}
}

test_latest_message_names_container_and_tag if {
	some d in production.deny with input as create(deployment([with_image("shop/api:latest")]))
	d.msg == `container api: tag "latest" of shop/api:latest is neither a semantic version (1.4.2) nor a commit hash`
}

# --- objects without a pod spec ------------------------------------------------

test_configmap_raises_nothing if {
	cm := {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"password": "password=hunter2"}}
	count(production.deny) == 0 with input as create(cm)
	count(production.warn) == 0 with input as create(cm)
	not production.require_approval with input as create(cm)
}

test_missing_name_label_warns if {
	d := json.patch(deployment([good_container]), [{"op": "remove", "path": "/metadata/labels"}])
	codes(production.warn) == {"SG-PROD-LABEL"} with input as create(d)
}
