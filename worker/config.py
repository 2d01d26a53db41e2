"""Worker configuration, read once from the environment (the composition root's only input).

    BOSUN_TEMPORAL_ADDRESS / TEMPORAL_ADDRESS   Temporal frontend (default 127.0.0.1:7233)
    BOSUN_NAMESPACE / TEMPORAL_NAMESPACE        Temporal namespace (default "default")
    BOSUN_TASK_QUEUE                            task queue (default "bosun")
    BOSUN_HOME                                  caches and the content store (default ~/.bosun)
    BOSUN_CONTROL_NAMESPACE                     namespace of AppProjects and Bosun's Secrets in the
                                                management cluster (default BOSUN_SECRETS_NAMESPACE or "bosun")
    BOSUN_KUBECONFIG                            kubeconfig files, ":"-separated; the first is the
                                                in-cluster destination (default $KUBECONFIG or ~/.kube/config)
    BOSUN_REFRESH_SECONDS                       how often a declared Application is compared with Git and
                                                its cluster (default 180, Argo CD's timeout.reconciliation)
    BOSUN_DISCOVERY_SECONDS                     how often Application resources are looked at (default 5)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TASK_QUEUE = "bosun"


@dataclass(frozen=True)
class WorkerConfig:
    temporal_address: str
    namespace: str
    task_queue: str
    home: Path
    kubeconfigs: list[Path]
    control_namespace: str = "bosun"
    refresh_seconds: float = 180.0
    discovery_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WorkerConfig:
        env = dict(os.environ if env is None else env)
        kubeconfig = env.get("BOSUN_KUBECONFIG") or env.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        return cls(
            temporal_address=env.get("BOSUN_TEMPORAL_ADDRESS") or env.get("TEMPORAL_ADDRESS") or "127.0.0.1:7233",
            namespace=env.get("BOSUN_NAMESPACE") or env.get("TEMPORAL_NAMESPACE") or "default",
            task_queue=env.get("BOSUN_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
            home=Path(env.get("BOSUN_HOME") or Path.home() / ".bosun"),
            kubeconfigs=[Path(p).expanduser() for p in kubeconfig.split(os.pathsep) if p],
            control_namespace=env.get("BOSUN_CONTROL_NAMESPACE") or env.get("BOSUN_SECRETS_NAMESPACE") or "bosun",
            refresh_seconds=float(env.get("BOSUN_REFRESH_SECONDS") or 180.0),
            discovery_seconds=float(env.get("BOSUN_DISCOVERY_SECONDS") or 5.0),
        )
