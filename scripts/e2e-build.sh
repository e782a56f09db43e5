#!/usr/bin/env bash
# e2e-build.sh builds, once, the programs the e2e suite runs into its cache
# folder ($SHIPGATE_E2E_CACHE, default test/e2e/.cache; git ignores it):
#
#   etcd                       go.etcd.io/etcd/server/v3 (test/e2e/tools/etcd)
#   kube-apiserver, kube-controller-manager, kubectl
#                              k8s.io/kubernetes v1.37.2 (test/e2e/tools/kube)
#   helm                       helm.sh/helm/v3 at $HELM_VERSION
#
# A program is rebuilt only when it is missing or the module it comes from
# changed (a stamp holds the sha256 of that module's go.mod and go.sum).
# Each phase prints how long it took. Only Go and the module proxy are needed.
#
#   scripts/e2e-build.sh              everything
#   scripts/e2e-build.sh helm         only helm (make chart-test)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

HELM_VERSION=${HELM_VERSION:-v3.22.0}
KUBE_VERSION=v1.37.2
cache=${SHIPGATE_E2E_CACHE:-$root/test/e2e/.cache}
bin=$cache/bin
mkdir -p "$bin"

# stamp prints what a build depends on; a changed stamp means rebuild.
stamp() {
	local dir=$1
	cat "$dir/go.mod" "$dir/go.sum" 2>/dev/null | sha256sum | cut -d' ' -f1
}

# built reports whether every named program exists and its stamp matches.
built() {
	local key=$1 want=$2; shift 2
	local p
	for p in "$@"; do
		[ -x "$bin/$p" ] || return 1
	done
	[ "$(cat "$bin/.$key.stamp" 2>/dev/null)" = "$want" ]
}

phase() {
	local name=$1; shift
	local start=$SECONDS
	echo "=== e2e-build: $name"
	"$@"
	echo "=== e2e-build: $name took $((SECONDS - start))s"
}

build_etcd() {
	local dir=$root/test/e2e/tools/etcd want
	want=$(stamp "$dir")
	if built etcd "$want" etcd; then echo "etcd is built"; return; fi
	(cd "$dir" && go build -trimpath -ldflags='-s -w' -o "$bin/etcd" .)
	echo "$want" >"$bin/.etcd.stamp"
}

build_kube() {
	local dir=$root/test/e2e/tools/kube want
	want=$(stamp "$dir")
	if built kube "$want" kube-apiserver kube-controller-manager kubectl; then
		echo "kube-apiserver, kube-controller-manager and kubectl are built"
		return
	fi
	# The version the binaries report; without it they say v0.0.0-master.
	local major=${KUBE_VERSION#v}; major=${major%%.*}
	local minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
	local ld="-s -w"
	local pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ld+=" -X $pkg.gitTreeState=clean"
	done
	(cd "$dir" && go build -trimpath -ldflags="$ld" -o "$bin/" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kubectl)
	echo "$want" >"$bin/.kube.stamp"
}

build_helm() {
	if built helm "$HELM_VERSION" helm; then echo "helm $HELM_VERSION is built"; return; fi
	GOBIN=$bin go install -trimpath -ldflags='-s -w' "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
	echo "$HELM_VERSION" >"$bin/.helm.stamp"
}

start=$SECONDS
[ $# -gt 0 ] || set -- etcd helm kube
for what in "$@"; do
	case $what in
	etcd) phase "etcd" build_etcd ;;
	helm) phase "helm $HELM_VERSION" build_helm ;;
	kube) phase "kube-apiserver, kube-controller-manager, kubectl $KUBE_VERSION" build_kube ;;
	*) echo "e2e-build: unknown target $what (etcd, helm, kube)" >&2; exit 2 ;;
	esac
done
echo "=== e2e-build: $* built in $((SECONDS - start))s into $bin"
