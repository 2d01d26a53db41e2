"""Launch and stop a devcluster: a real Kubernetes control plane with kwok nodes.

``up`` generates the PKI, starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (each its own process of the binaries in
:mod:`devstack.tools`), waits for each to be ready, registers kwok nodes and writes
an admin kubeconfig. Several clusters run side by side: each has its own directory
and its own ports, recorded in ``state.json``, so ``down`` and ``status`` find them.

Layout of a cluster directory (default ``$BOSUN_HOME/devclusters/<name>``)::

    pki/          CA, serving and client certificates, service-account keys
    etcd/         etcd data (kept across down/up unless purged)
    logs/*.log    one log per component
    kubeconfig    admin kubeconfig (context ``bosun-<name>``)
    stages.yaml   the kwok stages, from deploy/devcluster/stages.yaml
    state.json    ports and pids
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from bosun.paths import bosun_home
from devstack import pki as pki_mod
from devstack import processes, tools
from devstack.processes import StackError

STAGES_TEMPLATE = tools.REPO_ROOT / "deploy" / "devcluster" / "stages.yaml"
SERVICE_CIDR = "10.96.0.0/12"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def cluster_dir(name: str) -> Path:
    return bosun_home() / "devclusters" / name


@dataclass
class ClusterState:
    name: str
    directory: str
    api_port: int
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    nodes: int = 0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return Path(self.directory) / "kubeconfig"

    @property
    def context(self) -> str:
        return f"bosun-{self.name}"

    def save(self) -> None:
        (Path(self.directory) / "state.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        path = directory / "state.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def running(self) -> dict[str, bool]:
        return {c: processes.alive(pid) for c, pid in self.pids.items()}


def up(
    name: str = "dev",
    *,
    api_port: int | None = None,
    nodes: int = 3,
    pod_run_ms: int = 1000,
    directory: Path | None = None,
    timeout: float = 120.0,
) -> ClusterState:
    """Start a cluster (or return the running one of that name)."""
    directory = directory or cluster_dir(name)
    existing = ClusterState.load(directory)
    if existing and existing.pids and all(existing.running().values()):
        return existing
    if existing and existing.pids:
        _stop_all(existing)

    binary = tools.devcluster()
    kwok = tools.kwok()
    directory.mkdir(parents=True, exist_ok=True)
    logs = directory / "logs"
    if api_port is not None:
        processes.require_free(api_port, f"the API server of devcluster {name!r}")
    else:
        api_port = processes.free_ports(1)[0]
    etcd_client, etcd_peer, kcm, sched, kwok_port = processes.free_ports(5, avoid={api_port})
    state = ClusterState(
        name=name,
        directory=str(directory),
        api_port=api_port,
        ports={
            "etcd": etcd_client,
            "etcd-peer": etcd_peer,
            "kube-controller-manager": kcm,
            "kube-scheduler": sched,
            "kwok": kwok_port,
        },
    )
    certs = pki_mod.generate(directory / "pki")
    _write_kubeconfigs(state, certs)
    stages = directory / "stages.yaml"
    stages.write_text(
        STAGES_TEMPLATE.read_text().replace("@POD_RUN_MS@", str(pod_run_ms)).replace("@LB_IP@", "127.0.0.1")
    )

    def launch(component: str, argv: list[str]) -> int:
        pid = processes.start(component, argv, log=logs / f"{component}.log")
        state.pids[component] = pid
        state.save()
        return pid

    try:
        pid = launch("etcd", [str(binary), "etcd", *_etcd_flags(directory, etcd_client, etcd_peer)])
        processes.wait_until(
            lambda: _http_ok(f"http://127.0.0.1:{etcd_client}/health"),
            what="etcd",
            pid=pid,
            log=logs / "etcd.log",
            timeout=timeout,
        )
        pid = launch("kube-apiserver", [str(binary), "kube-apiserver", *_apiserver_flags(state, certs)])
        _wait_apiserver(state, certs, pid, logs, timeout)
        component_kubeconfig = directory / "kubeconfig-kube-controller-manager"
        pid = launch(
            "kube-controller-manager",
            [
                str(binary),
                "kube-controller-manager",
                f"--kubeconfig={component_kubeconfig}",
                f"--authentication-kubeconfig={component_kubeconfig}",
                f"--authorization-kubeconfig={component_kubeconfig}",
                f"--root-ca-file={certs.ca_cert}",
                f"--service-account-private-key-file={certs.sa_key}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            ],
        )
        _wait_healthz(state, "kube-controller-manager", kcm, pid, logs, timeout)
        sched_kubeconfig = directory / "kubeconfig-kube-scheduler"
        pid = launch(
            "kube-scheduler",
            [
                str(binary),
                "kube-scheduler",
                f"--kubeconfig={sched_kubeconfig}",
                f"--authentication-kubeconfig={sched_kubeconfig}",
                f"--authorization-kubeconfig={sched_kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched}",
            ],
        )
        _wait_healthz(state, "kube-scheduler", sched, pid, logs, timeout)
        pid = launch(
            "kwok",
            [
                str(kwok),
                f"--kubeconfig={state.kubeconfig}",
                f"--config={stages}",
                "--manage-all-nodes=true",
                f"--server-address=127.0.0.1:{kwok_port}",
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.1/16",
                "--node-ip=10.0.0.1",
            ],
        )
        processes.wait_until(
            lambda: _http_ok(f"http://127.0.0.1:{kwok_port}/healthz"),
            what="kwok",
            pid=pid,
            log=logs / "kwok.log",
            timeout=timeout,
        )
        _register_nodes(state, nodes)
        state.nodes = nodes
        state.save()
        _wait_cluster_usable(state, nodes, timeout)
    except BaseException:
        _stop_all(state)
        raise
    return state


def down(name: str = "dev", *, directory: Path | None = None, purge: bool = False) -> bool:
    """Stop the cluster's processes; with ``purge`` also delete its directory."""
    directory = directory or cluster_dir(name)
    state = ClusterState.load(directory)
    stopped = False
    if state is not None:
        stopped = _stop_all(state)
    if purge and directory.exists():
        shutil.rmtree(directory)
    return stopped


def status(name: str = "dev", *, directory: Path | None = None) -> ClusterState | None:
    return ClusterState.load(directory or cluster_dir(name))


def kubectl(state: ClusterState, *args: str, input: str | None = None, timeout: float = 60) -> str:
    proc = subprocess.run(
        [str(tools.venv_tool("kubectl")), f"--kubeconfig={state.kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise StackError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def restart_apiserver(state: ClusterState, *, timeout: float = 120.0) -> None:
    """Stop the cluster's API server and start it again on the same port and etcd: every
    watch and connection to it breaks, no object is lost (what tests of reconnection need)."""
    directory = Path(state.directory)
    logs = directory / "logs"
    old = state.pids.get("kube-apiserver")
    if old and processes.alive(old):
        processes.stop(old)
    certs = pki_mod.Pki(directory / "pki")
    argv = [str(tools.devcluster()), "kube-apiserver", *_apiserver_flags(state, certs)]
    pid = processes.start("kube-apiserver", argv, log=logs / "kube-apiserver.log")
    state.pids["kube-apiserver"] = pid
    state.save()
    _wait_apiserver(state, certs, pid, logs, timeout)


def _wait_apiserver(state: ClusterState, certs: pki_mod.Pki, pid: int, logs: Path, timeout: float) -> None:
    """Until the API server answers ``/readyz`` as the admin (its log is shown if it dies first)."""
    admin_ctx = _client_ssl(certs, "admin")
    processes.wait_until(
        lambda: _http_ok(f"{state.server}/readyz", admin_ctx),
        what="kube-apiserver",
        pid=pid,
        log=logs / "kube-apiserver.log",
        timeout=timeout,
    )


def _stop_all(state: ClusterState) -> bool:
    stopped = False
    for component in reversed(COMPONENTS):
        pid = state.pids.get(component)
        if pid and processes.alive(pid):
            processes.stop(pid)
            stopped = True
    state.pids = {}
    state.save()
    return stopped


def _etcd_flags(directory: Path, client: int, peer: int) -> list[str]:
    return [
        "--name=devcluster",
        f"--data-dir={directory / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{client}",
        f"--advertise-client-urls=http://127.0.0.1:{client}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=devcluster=http://127.0.0.1:{peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
        "--quota-backend-bytes=4294967296",
    ]


def _apiserver_flags(state: ClusterState, certs: pki_mod.Pki) -> list[str]:
    return [
        f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={state.api_port}",
        f"--tls-cert-file={certs.server_cert}",
        f"--tls-private-key-file={certs.server_key}",
        f"--client-ca-file={certs.ca_cert}",
        f"--service-account-key-file={certs.sa_pub}",
        f"--service-account-signing-key-file={certs.sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--endpoint-reconciler-type=none",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
    ]


def _kubeconfig(state: ClusterState, certs: pki_mod.Pki, user: str) -> dict[str, object]:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": state.context,
                "cluster": {"server": state.server, "certificate-authority-data": b64(certs.ca_cert)},
            }
        ],
        "users": [
            {
                "name": f"{state.context}-{user}",
                "user": {
                    "client-certificate-data": b64(certs.client_cert(user)),
                    "client-key-data": b64(certs.client_key(user)),
                },
            }
        ],
        "contexts": [{"name": state.context, "context": {"cluster": state.context, "user": f"{state.context}-{user}"}}],
        "current-context": state.context,
    }


def _write_kubeconfigs(state: ClusterState, certs: pki_mod.Pki) -> None:
    directory = Path(state.directory)
    for filename, user in (
        ("kubeconfig", "admin"),
        ("kubeconfig-kube-controller-manager", "system:kube-controller-manager"),
        ("kubeconfig-kube-scheduler", "system:kube-scheduler"),
    ):
        path = directory / filename
        path.write_text(yaml.safe_dump(_kubeconfig(state, certs, user)))
        path.chmod(0o600)


def _client_ssl(certs: pki_mod.Pki, user: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
    ctx.load_cert_chain(str(certs.client_cert(user)), str(certs.client_key(user)))
    return ctx


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as resp:  # noqa: S310 - loopback only
        return bool(resp.status == 200)


def _wait_healthz(state: ClusterState, component: str, port: int, pid: int, logs: Path, timeout: float) -> None:
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # self-signed serving cert of a loopback component
    processes.wait_until(
        lambda: _http_ok(f"https://127.0.0.1:{port}/healthz", insecure),
        what=component,
        pid=pid,
        log=logs / f"{component}.log",
        timeout=timeout,
    )


def _register_nodes(state: ClusterState, count: int) -> None:
    docs = []
    for i in range(count):
        node_name = f"kwok-node-{i}"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": node_name,
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": node_name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                    },
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                },
            }
        )
    kubectl(state, "apply", "-f", "-", input=yaml.safe_dump_all(docs))


def _wait_cluster_usable(state: ClusterState, nodes: int, timeout: float) -> None:
    """Nodes Ready and the default ServiceAccount present, so a Pod can be created now."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            listing = json.loads(kubectl(state, "get", "nodes", "-o", "json"))
            ready = [
                n
                for n in listing["items"]
                if any(
                    c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", [])
                )
            ]
            kubectl(state, "get", "serviceaccount", "default", "-n", "default")
            if len(ready) >= nodes:
                return
            last = f"{len(ready)} of {nodes} nodes Ready"
        except StackError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise StackError(
        f"devcluster {state.name!r} not usable after {timeout:.0f}s: {last}\n"
        f"kwok log:\n{processes.log_tail(Path(state.directory) / 'logs' / 'kwok.log')}"
    )
