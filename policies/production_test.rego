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

# --- secrets: more shapes, every container type, and never echoed ---------

secret_values := [
	"AKIAIOSFODNN7EXAMPLE",
	"aws_access_key_id=ASIAY34FZKBOKMUTVV7A",
	"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
	"-----BEGIN PRIVATE KEY-----",
	"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkqhkiG9w0BBQ0wPDAbBgkqhkiG9w0BBQwwDgQI",
	"sk_live_4eC39HqLyjWDarjtT1zdp7dc",
	"AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
	"xoxb-2964727219-8472617283-Qp4bR7sLmT9vXz",
	"amqp://guest:Zr8s2Lq@rabbit:5672/",
]

test_more_secret_shapes_denied if {
	every v in secret_values {
		codes(production.deny) == {"SG-PROD-SECRET"} with input as create(deployment([with_env(v)]))
	}
}

test_secret_messages_never_echo_the_value if {
	every v in secret_values {
		msgs := {d.msg | some d in production.deny} with input as create(deployment([with_env(v)]))
		count(msgs) > 0
		every m in msgs {
			not contains(m, v)
			# nor any line of a multi-line value
			every line in split(v, "\n") {
				not contains(m, line)
			}
		}
	}
}

test_secret_message_names_container_and_variable if {
	msgs := {d.msg | some d in production.deny} with input as create(deployment([with_env("AKIAIOSFODNN7EXAMPLE")]))
	msgs == {"container api: env X holds what looks like an AWS access key: use valueFrom.secretKeyRef"}
}

test_secrets_in_init_and_ephemeral_containers_denied if {
	d := deployment([good_container])
	leaky := {"name": "migrate", "image": "registry.example.com/shop/migrate:2.0.0", "resources": good_container.resources, "env": [{"name": "TOKEN", "value": "password=hunter2"}]}
	init := json.patch(d, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [leaky]}])
	codes(production.deny) == {"SG-PROD-SECRET"} with input as create(init)
	eph := json.patch(d, [{"op": "add", "path": "/spec/template/spec/ephemeralContainers", "value": [object.remove(leaky, ["resources"])]}])
	codes(production.deny) == {"SG-PROD-SECRET"} with input as create(eph)
}

test_paths_and_names_that_mention_secrets_allowed if {
	every v in [
		"/var/run/secrets/db/password",
		"db-password",
		"SECRET_KEY_BASE_FILE",
		"--token-file=/etc/token",
	] {
		count(production.deny) == 0 with input as create(deployment([with_env(v)]))
	}
}

# --- every kind that carries a pod spec ---------------------------------------

test_bare_pod_needs_limits_and_readiness if {
	c := object.remove(good_container, ["readinessProbe", "resources"])
	pod := {"kind": "Pod", "metadata": {"name": "debug", "labels": {"app.kubernetes.io/name": "debug"}}, "spec": {"containers": [c]}}
	codes(production.deny) == {"SG-PROD-LIMITS", "SG-PROD-READINESS"} with input as create(pod)
}

pod_of(img) := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [with_image(img)]}}

cronjob_of(img) := {"kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [with_image(img)]}}}}}}

test_pod_image_change_needs_approval if {
	production.require_approval.approvers == 2 with input as review("Pod", pod_of("registry.example.com/shop/api:1.4.3"), pod_of("registry.example.com/shop/api:1.4.2"))
	not production.require_approval with input as review("Pod", pod_of("registry.example.com/shop/api:1.4.2"), pod_of("registry.example.com/shop/api:1.4.2"))
}

test_cronjob_image_change_needs_approval if {
	r := production.require_approval with input as review("CronJob", cronjob_of("registry.example.com/shop/api:1.4.3"), cronjob_of("registry.example.com/shop/api:1.4.2"))
	r.groups == ["release-managers"]
	contains(r.reason, "registry.example.com/shop/api:1.4.3")
	not production.require_approval with input as review("CronJob", cronjob_of("registry.example.com/shop/api:1.4.2"), cronjob_of("registry.example.com/shop/api:1.4.2"))
}
