#!/usr/bin/env bash
# chart-test.sh lints and renders charts/shipgate with the pinned helm
# (scripts/e2e-build.sh helm builds it into the e2e cache), in the shapes
# users install it, and checks the chart refuses what cannot work. The e2e
# suite then applies the rendered objects to a real API server.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${SHIPGATE_E2E_CACHE:-$PWD/test/e2e/.cache}
helm=$cache/bin/helm
if [ ! -x "$helm" ]; then
	echo "chart-test: $helm is missing; scripts/e2e-build.sh helm builds it" >&2
	exit 1
fi
# helm keeps caches and config here rather than in $HOME.
export HELM_CACHE_HOME=$cache/helm/cache HELM_CONFIG_HOME=$cache/helm/config HELM_DATA_HOME=$cache/helm/data
chart=charts/shipgate
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# render NAME ARGS…: lint and render one shape of the chart into $out/NAME.yaml.
render() {
	local name=$1; shift
	"$helm" lint --strict "$chart" --namespace shipgate-system "$@" >"$out/lint-$name.txt" ||
		{ cat "$out/lint-$name.txt"; echo "chart-test: helm lint ($name) failed" >&2; exit 1; }
	"$helm" template shipgate "$chart" --namespace shipgate-system "$@" >"$out/$name.yaml"
	echo "chart-test: $name renders $(grep -c '^kind:' "$out/$name.yaml") objects"
}
render defaults
render ha --set replicas=3 --set store.postgres.urlSecret.name=shipgate-postgres \
	--set config.audit.checkpointKey.secretRef.name=shipgate-audit-key \
	--set config.audit.checkpointKey.secretRef.key=key \
	--set 'rbac.secrets[0].name=shipgate-audit-key'
render cert-manager-and-servicemonitor --set tls.certManager.enabled=true --set serviceMonitor.enabled=true
render url --set webhook.url=https://127.0.0.1:8443 --set webhook.caBundle=PEM
render policy-configmaps --set config.policies.configMaps=true

# want NAME FILE PATTERN: the render holds a line matching PATTERN.
want() {
	grep -Eq "$3" "$2" || { echo "chart-test: $1: no line matching '$3' in the render" >&2; exit 1; }
}
want "one replica" "$out/defaults.yaml" '^kind: PersistentVolumeClaim$'
want "one replica" "$out/defaults.yaml" 'type: Recreate'
want "HA" "$out/ha.yaml" '^kind: PodDisruptionBudget$'
want "HA" "$out/ha.yaml" 'podAntiAffinity:'
want "cert-manager" "$out/cert-manager-and-servicemonitor.yaml" 'cert-manager.io/inject-ca-from: shipgate-system/shipgate'
want "ServiceMonitor" "$out/cert-manager-and-servicemonitor.yaml" '^kind: ServiceMonitor$'
want "url" "$out/url.yaml" 'url: "https://127.0.0.1:8443/validate"'
# Policy ConfigMaps: their status is a patch, and only then is it granted.
want "policy ConfigMaps" "$out/policy-configmaps.yaml" 'verbs: \["patch"\]'
if grep -q 'verbs: \["patch"\]' "$out/defaults.yaml"; then
	echo "chart-test: defaults: configmaps patch granted without policies.configMaps" >&2
	exit 1
fi
for f in defaults ha; do
	want "$f webhooks" "$out/$f.yaml" 'failurePolicy: Fail'
	want "$f webhooks" "$out/$f.yaml" 'sideEffects: NoneOnDryRun'
	want "$f webhooks" "$out/$f.yaml" 'reinvocationPolicy: IfNeeded'
	want "$f webhooks" "$out/$f.yaml" 'timeoutSeconds: 5'
done

# refuse NAME MESSAGE ARGS…: the chart must fail to render, saying MESSAGE.
refuse() {
	local name=$1 msg=$2; shift 2
	if "$helm" template shipgate "$chart" "$@" >"$out/refused.txt" 2>&1; then
		echo "chart-test: $name rendered; want the chart to refuse it" >&2
		exit 1
	fi
	grep -q "$msg" "$out/refused.txt" || { cat "$out/refused.txt"; echo "chart-test: $name: the refusal does not say '$msg'" >&2; exit 1; }
	echo "chart-test: $name refused: $(grep -o "$msg.*" "$out/refused.txt" | head -1)"
}
refuse "replicas=2 on SQLite" "needs a PostgreSQL store" --set replicas=2
refuse "PostgreSQL without a checkpoint key" "needs config.audit.checkpointKey" \
	--set replicas=2 --set store.postgres.urlSecret.name=pg
refuse "a URL without a CA bundle" "webhook.url needs webhook.caBundle" --set webhook.url=https://127.0.0.1:8443
echo "chart-test: passed"
