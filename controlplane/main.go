// Command kube-local is a multi-call binary holding the pieces of a local
// Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager.
//
// Usage: kube-local <etcd|kube-apiserver|kube-controller-manager> [flags...]
//
// One binary means one link step and one cached file; see docs/controlplane.md.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	_ "time/tzdata" // for timeZone support in CronJob (as the upstream mains)

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

const usage = "usage: kube-local <etcd|kube-apiserver|kube-controller-manager> [flags...]"

func main() {
	// Called through a symlink named after a component: dispatch on the link name.
	name := filepath.Base(os.Args[0])
	args := os.Args
	switch name {
	case "etcd", "kube-apiserver", "kube-controller-manager":
	default:
		if len(os.Args) < 2 {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		name = os.Args[1]
		args = os.Args[1:]
	}
	// The components read os.Args themselves (cobra, etcd flag parsing):
	// make them see "<component> flags...".
	os.Args = args

	switch name {
	case "etcd":
		etcdmain.Main(args)
		os.Exit(0)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(kcm.NewControllerManagerCommand()))
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}
