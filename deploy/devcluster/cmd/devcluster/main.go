// Command devcluster is a multi-call binary holding the upstream Kubernetes
// control plane: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler. Each component runs as its own process (they share global
// state such as feature gates and the metrics registry), chosen by the first
// argument:
//
//	devcluster etcd --data-dir ... --listen-client-urls ...
//	devcluster kube-apiserver --etcd-servers ... --secure-port ...
//	devcluster kube-controller-manager --kubeconfig ...
//	devcluster kube-scheduler --kubeconfig ...
//
// The main functions mirror upstream's cmd/*/main.go, including their blank
// imports. The Python launcher (bosun.devstack.cluster) starts and stops them.
package main

import (
	"fmt"
	"os"
	_ "time/tzdata" // for timeZone support in CronJob

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric registration
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: devcluster etcd|kube-apiserver|kube-controller-manager|kube-scheduler [flags]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	component, args := os.Args[1], os.Args[2:]
	// Each component parses os.Args itself; present it as if it were invoked directly.
	os.Args = append([]string{component}, args...)
	switch component {
	case "etcd":
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	default:
		fmt.Fprintf(os.Stderr, "devcluster: unknown component %q\n%s\n", component, usage)
		os.Exit(2)
	}
}
