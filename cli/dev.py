"""``bosun dev``: the local stack (devclusters, Temporal dev server) for trying Bosun and testing it.

These commands start real servers on this machine; see devstack/ for how.
"""

from __future__ import annotations

import sys

import click


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


@click.group()
def dev() -> None:
    """Run the local stack: devclusters and the Temporal dev server."""


@dev.group()
def cluster() -> None:
    """A real Kubernetes control plane with kwok nodes."""


@cluster.command("up")
@click.option("--name", default="dev", show_default=True, help="Cluster name; several can run at once.")
@click.option("--port", type=int, default=None, help="API server port (default: a free one).")
@click.option("--nodes", type=int, default=3, show_default=True, help="kwok nodes to register.")
@click.option(
    "--pod-run-ms",
    type=int,
    default=1000,
    show_default=True,
    help="How long Job and bare Pods run before they complete.",
)
def cluster_up(name: str, port: int | None, nodes: int, pod_run_ms: int) -> None:
    """Start a devcluster and print its kubeconfig path.

    \b
    Example:
      bosun dev cluster up --name staging --nodes 2
      kubectl --kubeconfig ~/.bosun/devclusters/staging/kubeconfig get nodes
    """
    from devstack import cluster as devcluster
    from devstack.processes import StackError
    from devstack.tools import ToolError

    try:
        state = devcluster.up(name, api_port=port, nodes=nodes, pod_run_ms=pod_run_ms)
    except (StackError, ToolError) as exc:
        _fail(exc)
    click.echo(f"devcluster {name!r} is up at {state.server}")
    click.echo(f"kubeconfig: {state.kubeconfig}")


@cluster.command("down")
@click.option("--name", default="dev", show_default=True)
@click.option("--purge", is_flag=True, help="Also delete its data, certificates and logs.")
def cluster_down(name: str, purge: bool) -> None:
    """Stop a devcluster."""
    from devstack import cluster as devcluster

    stopped = devcluster.down(name, purge=purge)
    click.echo(f"devcluster {name!r} {'stopped' if stopped else 'was not running'}")


@cluster.command("status")
@click.option("--name", default="dev", show_default=True)
def cluster_status(name: str) -> None:
    """Show whether each component of a devcluster runs."""
    from devstack import cluster as devcluster

    state = devcluster.status(name)
    if state is None or not state.pids:
        click.echo(f"devcluster {name!r} is not running")
        sys.exit(3)
    running = state.running()
    click.echo(f"devcluster {name!r}: {state.server}  kubeconfig: {state.kubeconfig}")
    for component, ok in running.items():
        click.echo(f"  {component:<24} {'running' if ok else 'STOPPED'} (pid {state.pids[component]})")
    if not all(running.values()):
        sys.exit(1)


@dev.group()
def temporal() -> None:
    """The Temporal dev server (SQLite persistence, Web UI)."""


@temporal.command("up")
@click.option("--port", type=int, default=7233, show_default=True)
@click.option("--ui-port", type=int, default=8233, show_default=True)
def temporal_up(port: int, ui_port: int) -> None:
    """Start the Temporal dev server with Bosun's search attributes."""
    from devstack import temporal as devtemporal
    from devstack.processes import StackError

    try:
        state = devtemporal.up(port=port, ui_port=ui_port)
    except StackError as exc:
        _fail(exc)
    click.echo(f"Temporal at {state.address}; Web UI: {state.ui_url}")


@temporal.command("down")
@click.option("--purge", is_flag=True, help="Also delete the SQLite database.")
def temporal_down(purge: bool) -> None:
    """Stop the Temporal dev server."""
    from devstack import temporal as devtemporal

    click.echo("Temporal stopped" if devtemporal.down(purge=purge) else "Temporal was not running")


@dev.command("up")
@click.option("--nodes", type=int, default=3, show_default=True)
def stack_up(nodes: int) -> None:
    """Start the whole local stack: Temporal dev server, devcluster "dev" and a worker."""
    from devstack import cluster as devcluster
    from devstack import temporal as devtemporal
    from devstack import worker as devworker
    from devstack.processes import StackError
    from devstack.tools import REPO_ROOT, ToolError

    try:
        temporal_state = devtemporal.up()
        click.echo(f"Temporal:   {temporal_state.address}   Web UI: {temporal_state.ui_url}")
        cluster_state = devcluster.up("dev", nodes=nodes)
        devcluster.kubectl(cluster_state, "apply", "-f", str(REPO_ROOT / "deploy" / "crds"))
        devcluster.kubectl(
            cluster_state,
            "apply",
            "-f",
            "-",  # the control namespace: projects, Secrets
            input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bosun\n",
        )
        click.echo(f"devcluster: {cluster_state.server}   kubeconfig: {cluster_state.kubeconfig}")
        pid = devworker.up(kubeconfig=cluster_state.kubeconfig, temporal_address=temporal_state.address)
        click.echo(f"worker:     pid {pid}   log: {devworker.worker_dir() / 'worker.log'}")
    except (StackError, ToolError) as exc:
        _fail(exc)


@dev.command("down")
@click.option("--purge", is_flag=True, help="Also delete all data (Temporal history, cluster state).")
def stack_down(purge: bool) -> None:
    """Stop the worker, the devcluster "dev" and the Temporal dev server."""
    from devstack import cluster as devcluster
    from devstack import temporal as devtemporal
    from devstack import worker as devworker

    devworker.down()
    devcluster.down("dev", purge=purge)
    devtemporal.down(purge=purge)
    click.echo("local stack stopped")
