// Command etcd is the etcd server the e2e suite's kube-apiserver stores its
// objects in, built from go.etcd.io/etcd/server/v3 so the suite needs nothing
// but Go. It lives in a module of its own: etcd's dependencies (grpc,
// OpenTelemetry) need not agree with Kubernetes' or shipgate's.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
