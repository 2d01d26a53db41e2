"""``bosun-manager``: the ServiceAccount Bosun deploys with in a destination cluster.

After Argo CD's ``argocd-manager`` (util/clusterauth/clusterauth.go: InstallClusterManagerRBAC,
GetServiceAccountBearerToken, UninstallClusterManagerRBAC): ``bosun cluster add`` connects
with the operator's kubeconfig context (any authentication the kubernetes library supports,
``exec`` plugins included) and installs, in the system namespace (``kube-system``)::

    ServiceAccount      bosun-manager
    ClusterRole         bosun-manager-role           */* and every non-resource URL, as argocd-manager
    ClusterRoleBinding  bosun-manager-role-binding
    Secret              bosun-manager-long-lived-token  (kubernetes.io/service-account-token)

or, for a cluster limited to some namespaces (``--namespace``), a Role ``bosun-manager-role``
(``*``/``*``) and RoleBinding ``bosun-manager-role-binding`` in each of them and no cluster-wide
rights. The token controller fills the token Secret; its token is what the cluster Secret stores,
never the operator's own credentials. :meth:`ClusterManager.uninstall` removes all of it
(``bosun cluster rm``). Existing objects are updated (Argo CD's upsert), so ``add`` is repeatable.

Calls use the typed CoreV1/RbacV1 APIs with dict bodies and short timeouts; failures become
:class:`ClusterManagerError` naming the object and the API's reason, never a token.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api, RbacAuthorizationV1Api
from kubernetes.client.exceptions import ApiException

MANAGER_SERVICE_ACCOUNT = "bosun-manager"
MANAGER_ROLE = "bosun-manager-role"
MANAGER_ROLE_BINDING = "bosun-manager-role-binding"
TOKEN_SECRET_SUFFIX = "-long-lived-token"
SYSTEM_NAMESPACE = "kube-system"
TOKEN_TIMEOUT = 30.0
"""Seconds to wait for the token controller to fill the token Secret (Argo CD's BearerTokenTimeout)."""
REQUEST_TIMEOUT = 15
RBAC = "rbac.authorization.k8s.io"

CLUSTER_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]
NAMESPACE_RULES: list[dict[str, Any]] = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


class ClusterManagerError(Exception):
    """bosun-manager could not be installed, read or removed."""


@dataclass(frozen=True)
class ManagerToken:
    """A ServiceAccount's long-lived token and the CA its token Secret carries."""

    service_account: str
    namespace: str
    token: str = field(repr=False)
    ca_data: str = field(default="", repr=False)


class ClusterManager:
    """bosun-manager in one cluster, through ``api`` (the operator's credentials)."""

    def __init__(
        self,
        api: ApiClient,
        *,
        system_namespace: str = SYSTEM_NAMESPACE,
        token_timeout: float = TOKEN_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Any: the typed stubs want V1 models; these calls pass dict bodies, as the client accepts.
        self._core: Any = CoreV1Api(api)
        self._rbac: Any = RbacAuthorizationV1Api(api)
        self.system_namespace = system_namespace
        self._token_timeout = token_timeout
        self._sleep = sleep

    def _call(self, what: str, fn: Callable[[], Any], *, missing_ok: bool = False) -> Any:
        try:
            return fn()
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise ClusterManagerError(f"cannot {what}: {exc.status} {exc.reason or ''}".rstrip()) from None
        except Exception as exc:  # noqa: BLE001 - connection errors, timeouts
            raise ClusterManagerError(f"cannot {what}: cluster unreachable: {type(exc).__name__}") from None

    def _upsert(self, what: str, create: Callable[[], Any], replace: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                create()
            except ApiException as exc:
                if exc.status != 409:
                    raise
                replace()

        self._call(f"create or update {what}", run)

    def _create_if_missing(self, what: str, create: Callable[[], Any]) -> None:
        """Create an object; one that exists already (409) is kept as it is."""

        def run() -> None:
            try:
                create()
            except ApiException as exc:
                if exc.status != 409:
                    raise

        self._call(f"create {what}", run)

    def install(self, namespaces: Sequence[str] = ()) -> ManagerToken:
        """The ServiceAccount, its rights (cluster-wide, or Roles in ``namespaces``) and its token."""
        ns, sa = self.system_namespace, MANAGER_SERVICE_ACCOUNT
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}}

        self._create_if_missing(
            f"ServiceAccount {ns}/{sa}",
            lambda: self._core.create_namespaced_service_account(ns, account, _request_timeout=REQUEST_TIMEOUT),
        )
        subject = {"kind": "ServiceAccount", "name": sa, "namespace": ns}
        if not namespaces:
            role = {"metadata": {"name": MANAGER_ROLE}, "rules": CLUSTER_RULES}
            binding = {
                "metadata": {"name": MANAGER_ROLE_BINDING},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": MANAGER_ROLE},
                "subjects": [subject],
            }
            self._upsert(
                f"ClusterRole {MANAGER_ROLE}",
                lambda: self._rbac.create_cluster_role(role, _request_timeout=REQUEST_TIMEOUT),
                lambda: self._rbac.replace_cluster_role(MANAGER_ROLE, role, _request_timeout=REQUEST_TIMEOUT),
            )
            self._upsert(
                f"ClusterRoleBinding {MANAGER_ROLE_BINDING}",
                lambda: self._rbac.create_cluster_role_binding(binding, _request_timeout=REQUEST_TIMEOUT),
                lambda: self._rbac.replace_cluster_role_binding(
                    MANAGER_ROLE_BINDING, binding, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        for namespace in namespaces:
            self._install_role(namespace, subject)
        return self.token(sa)

    def _install_role(self, namespace: str, subject: dict[str, str]) -> None:
        role = {"metadata": {"name": MANAGER_ROLE, "namespace": namespace}, "rules": NAMESPACE_RULES}
        binding = {
            "metadata": {"name": MANAGER_ROLE_BINDING, "namespace": namespace},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": MANAGER_ROLE},
            "subjects": [subject],
        }
        self._upsert(
            f"Role {namespace}/{MANAGER_ROLE}",
            lambda: self._rbac.create_namespaced_role(namespace, role, _request_timeout=REQUEST_TIMEOUT),
            lambda: self._rbac.replace_namespaced_role(MANAGER_ROLE, namespace, role, _request_timeout=REQUEST_TIMEOUT),
        )
        self._upsert(
            f"RoleBinding {namespace}/{MANAGER_ROLE_BINDING}",
            lambda: self._rbac.create_namespaced_role_binding(namespace, binding, _request_timeout=REQUEST_TIMEOUT),
            lambda: self._rbac.replace_namespaced_role_binding(
                MANAGER_ROLE_BINDING, namespace, binding, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def token(self, service_account: str) -> ManagerToken:
        """The long-lived token of ``service_account`` (in the system namespace): its
        ``<name>-long-lived-token`` Secret, created if missing and waited for until the
        token controller has filled it (Argo CD's GetServiceAccountBearerToken)."""
        ns = self.system_namespace
        self._call(
            f"read ServiceAccount {ns}/{service_account}",
            lambda: self._core.read_namespaced_service_account(service_account, ns, _request_timeout=REQUEST_TIMEOUT),
        )
        name = service_account + TOKEN_SECRET_SUFFIX
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": name,
                "namespace": ns,
                "annotations": {"kubernetes.io/service-account.name": service_account},
            },
        }

        self._create_if_missing(
            f"Secret {ns}/{name}",
            lambda: self._core.create_namespaced_secret(ns, secret, _request_timeout=REQUEST_TIMEOUT),
        )
        deadline = time.monotonic() + self._token_timeout
        while True:
            found = self._call(
                f"read Secret {ns}/{name}",
                lambda: self._core.read_namespaced_secret(name, ns, _request_timeout=REQUEST_TIMEOUT),
            )
            data = found.data or {}
            if data.get("token"):
                return ManagerToken(
                    service_account=service_account,
                    namespace=ns,
                    token=base64.b64decode(data["token"]).decode(),
                    ca_data=base64.b64decode(data.get("ca.crt") or "").decode(),
                )
            if time.monotonic() >= deadline:
                raise ClusterManagerError(
                    f"Secret {ns}/{name} got no token within {self._token_timeout:.0f}s "
                    "(is the cluster's token controller, kube-controller-manager, running?)"
                )
            self._sleep(0.5)

    def uninstall(self, namespaces: Sequence[str] = ()) -> list[str]:
        """Remove what :meth:`install` made (those already gone are skipped); what was removed."""
        ns, sa = self.system_namespace, MANAGER_SERVICE_ACCOUNT
        opts: dict[str, Any] = {"_request_timeout": REQUEST_TIMEOUT}
        steps: list[tuple[str, Callable[[], Any]]] = [
            (
                f"ClusterRoleBinding {MANAGER_ROLE_BINDING}",
                lambda: self._rbac.delete_cluster_role_binding(MANAGER_ROLE_BINDING, **opts),
            ),
            (f"ClusterRole {MANAGER_ROLE}", lambda: self._rbac.delete_cluster_role(MANAGER_ROLE, **opts)),
        ]
        for namespace in namespaces:
            steps += [
                (
                    f"RoleBinding {namespace}/{MANAGER_ROLE_BINDING}",
                    functools.partial(
                        self._rbac.delete_namespaced_role_binding, MANAGER_ROLE_BINDING, namespace, **opts
                    ),
                ),
                (
                    f"Role {namespace}/{MANAGER_ROLE}",
                    functools.partial(self._rbac.delete_namespaced_role, MANAGER_ROLE, namespace, **opts),
                ),
            ]
        token = sa + TOKEN_SECRET_SUFFIX
        steps += [
            (f"Secret {ns}/{token}", lambda: self._core.delete_namespaced_secret(token, ns, **opts)),
            (f"ServiceAccount {ns}/{sa}", lambda: self._core.delete_namespaced_service_account(sa, ns, **opts)),
        ]
        removed = []
        for what, delete in steps:
            if self._call(f"delete {what}", delete, missing_ok=True) is not None:
                removed.append(what)
        return removed
