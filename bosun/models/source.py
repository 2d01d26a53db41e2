"""``spec.source`` / ``spec.sources[]``: where an Application's manifests come from.

One :class:`ApplicationSource` names a repository (Git or Helm), a revision and a path
or chart, plus options for at most one tool: plain directory (with Jsonnet), Helm or
Kustomize. Config management plugins (``plugin``) and ``tagPrefix`` are valid Argo CD
fields that Bosun does not implement yet: they are kept and reported, see
:mod:`bosun.models.base`.

To support a new tool option, add a typed field to the tool's model below (its
camelCase alias is derived from the name) and teach the render activity to use it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import PlainValidator, model_validator

from bosun.models.base import ArgoModel
from bosun.models.errors import FieldProblem
from bosun.models.formats import check_repo_url


class JsonnetVar(ArgoModel):
    """A Jsonnet top-level argument or external variable (``code`` = evaluate as code)."""

    name: str
    value: str
    code: bool = False


class ApplicationSourceJsonnet(ArgoModel):
    tlas: list[JsonnetVar] = []
    ext_vars: list[JsonnetVar] = []
    libs: list[str] = []


class ApplicationSourceDirectory(ArgoModel):
    recurse: bool = False
    include: str = ""
    exclude: str = ""
    jsonnet: ApplicationSourceJsonnet | None = None
    disable_extension_filter: bool = False


class HelmParameter(ArgoModel):
    """``--set name=value`` (``--set-string`` when ``forceString``)."""

    name: str = ""
    value: str = ""
    force_string: bool = False


class HelmFileParameter(ArgoModel):
    """``--set-file name=path``."""

    name: str = ""
    path: str = ""


class ApplicationSourceHelm(ArgoModel):
    value_files: list[str] = []
    values: str = ""
    values_object: dict[str, Any] | None = None
    parameters: list[HelmParameter] = []
    file_parameters: list[HelmFileParameter] = []
    release_name: str = ""
    namespace: str = ""
    skip_crds: bool = False
    skip_tests: bool = False
    skip_schema_validation: bool = False
    ignore_missing_value_files: bool = False
    pass_credentials: bool = False
    version: str = ""
    kube_version: str = ""
    api_versions: list[str] = []


def _int_or_string(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected an integer or a string of digits")
    if isinstance(value, str) and not value.isdigit():
        raise ValueError(f"{value!r} is not a replica count")
    return value


class KustomizeReplica(ArgoModel):
    name: str
    count: Annotated[int | str, PlainValidator(_int_or_string)]

    def count_int(self) -> int:
        return int(self.count)


class KustomizeSelector(ArgoModel):
    group: str = ""
    version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    label_selector: str = ""
    annotation_selector: str = ""


class KustomizePatch(ArgoModel):
    path: str = ""
    patch: str = ""
    target: KustomizeSelector | None = None
    options: dict[str, bool] = {}


class ApplicationSourceKustomize(ArgoModel):
    argo_only: ClassVar[frozenset[str]] = frozenset({"version", "commonAnnotationsEnvsubst"})

    name_prefix: str = ""
    name_suffix: str = ""
    images: list[str] = []
    common_labels: dict[str, str] = {}
    common_annotations: dict[str, str] = {}
    force_common_labels: bool = False
    force_common_annotations: bool = False
    label_without_selector: bool = False
    label_include_templates: bool = False
    namespace: str = ""
    replicas: list[KustomizeReplica] = []
    patches: list[KustomizePatch] = []
    components: list[str] = []
    ignore_missing_components: bool = False
    kube_version: str = ""
    api_versions: list[str] = []


Tool = Literal["directory", "helm", "kustomize", "plugin"]
_TOOLS: tuple[Tool, ...] = ("directory", "helm", "kustomize", "plugin")


def _is_set(options: object) -> bool:
    if isinstance(options, ArgoModel):
        return bool(options.model_dump(exclude_defaults=True))
    return bool(options)


class ApplicationSource(ArgoModel):
    argo_only: ClassVar[frozenset[str]] = frozenset({"plugin", "tagPrefix"})

    repo_url: str
    target_revision: str = "HEAD"
    path: str = ""
    chart: str = ""
    ref: str = ""
    name: str = ""
    directory: ApplicationSourceDirectory | None = None
    helm: ApplicationSourceHelm | None = None
    kustomize: ApplicationSourceKustomize | None = None

    @model_validator(mode="after")
    def _check(self) -> ApplicationSource:
        try:
            check_repo_url(self.repo_url, chart=bool(self.chart))
        except ValueError as exc:
            raise FieldProblem("repoURL", str(exc)) from None
        # Like Argo CD's normalization, an empty options block (``helm: {}``) does not count.
        tools = [t for t in _TOOLS if _is_set(self._tool_options(t))]
        if len(tools) > 1:
            raise FieldProblem(tools[1], f"set options for one tool only, not {', '.join(tools)}")
        return self

    def _tool_options(self, tool: Tool) -> object | None:
        if tool == "plugin":
            return (self.__pydantic_extra__ or {}).get("plugin")
        value: object | None = getattr(self, tool)
        return value

    def explicit_tool(self) -> Tool | None:
        """The tool whose options are set (Argo CD's ``ExplicitType``); None means the
        tool is chosen from the repository's content (Chart.yaml, kustomization.yaml …).
        """
        return next((t for t in _TOOLS if _is_set(self._tool_options(t))), None)

    @property
    def is_chart(self) -> bool:
        """True for a chart from a Helm repository (``chart`` set, no ``path``)."""
        return bool(self.chart)

    @property
    def value_file_refs(self) -> list[str]:
        """Source refs used by Helm value files such as ``$values/envs/prod.yaml``."""
        if self.helm is None:
            return []
        return [f[1:].split("/", 1)[0] for f in self.helm.value_files if f.startswith("$")]


__all__ = [
    "ApplicationSource",
    "ApplicationSourceDirectory",
    "ApplicationSourceHelm",
    "ApplicationSourceJsonnet",
    "ApplicationSourceKustomize",
    "HelmFileParameter",
    "HelmParameter",
    "JsonnetVar",
    "KustomizePatch",
    "KustomizeReplica",
    "KustomizeSelector",
]
