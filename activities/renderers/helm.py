"""Helm sources: ``helm template`` of a chart in Git or from a Helm repository, as Argo CD runs it.

A chart directory (it has ``Chart.yaml``) renders with::

    helm template <chart> --name-template <releaseName|app> --namespace <helm.namespace|destination>
        [--kube-version V] [--api-versions G/V ...]
        --values <valueFiles...> --values <values or valuesObject>
        --set k=v  --set-string k=v (forceString)  --set-file k=<path>
        --include-crds (unless skipCrds)  [--skip-tests] [--skip-schema-validation]

``kubeVersion`` / ``apiVersions`` in ``spec.source.helm`` win over the destination
cluster's, which the caller passes. Parameter values and value file paths may use the
build environment (``$ARGOCD_APP_NAME`` …); commas in ``--set`` values are escaped
unless the value is a ``{a,b}`` list, as Argo CD does. Hook annotations
(``helm.sh/hook`` …) stay on the objects: :mod:`bosun.plan` maps them to sync phases.

Paths. Value files and file parameters are relative to the chart directory; a leading
``/`` means the repository root (Argo CD's rule), so ``/etc/passwd`` names
``<repo>/etc/passwd`` and nothing of the worker can be read. A path that resolves
outside the repository (``..``, or a symlink) is refused, naming the path. Remote
value files (``https://…``) are refused for now, with a message saying so. Other
sources' files (``$values/…``) resolve inside that source's checkout (multi-source apps).

Dependencies. Subcharts vendored in ``charts/`` just work. When ``helm template``
reports a dependency missing from ``charts/``, ``helm dependency build`` fetches it from
the repository named in ``Chart.yaml`` / ``requirements.yaml`` (``file://`` ones must
be inside the repository) and the template runs again; if a repository cannot be
reached the error names the chart, each dependency and its repository.

Charts from a Helm repository (``spec.source.chart``, ``repoURL`` http(s) or
``oci://``; ``targetRevision`` is the chart version or constraint) are fetched with
``helm pull --untar`` into the render's scratch directory, which then plays the role
of the checkout; a registry on loopback is spoken to over plain HTTP, as Docker does for
``localhost``.

Private repositories. When the credential store has ``type: helm`` credentials for the
chart's ``repoURL`` (Argo CD's repository Secrets), helm logs in first — ``helm repo add
--password-stdin`` or ``helm registry login --password-stdin`` into a throw-away config —
and pulls through that config (:mod:`.helm_auth`); the same is done for each dependency
repository of a chart in Git that has credentials before ``helm dependency build``.
Without credentials the commands are the plain ones above. A 401/403 says which
repository refused and whether credentials are missing or wrong.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import yaml

from activities.credentials import CredentialStore, RepoCredentials
from activities.renderers.helm_auth import (
    HelmAuth,
    auth_failure,
    is_loopback,
    login_credentials,
    lookup_helm_credentials,
)
from activities.renderers.paths import RenderError, inside
from activities.renderers.tools import BuildEnv, ToolRun, find_tool
from bosun import safe_yaml
from bosun.manifests import ManifestError, parse_manifests
from bosun.models.source import ApplicationSource, ApplicationSourceHelm
from bosun.resources import Manifest

__all__ = ["pull_chart", "render_helm"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CHART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MISSING_DEPENDENCY = ("missing in charts", "found in requirements.yaml, but missing")


def render_helm(
    checkout: Path,
    chart_dir: Path,
    options: ApplicationSourceHelm | None,
    run: ToolRun,
    *,
    credentials: CredentialStore | None = None,
) -> list[Manifest]:
    """``helm template`` of ``chart_dir`` (inside ``checkout``) with ``options``; missing
    dependencies are fetched with the ``credentials`` of their repositories."""
    options = options or ApplicationSourceHelm()
    shown = run.show(chart_dir)
    if not (chart_dir / "Chart.yaml").is_file():
        raise RenderError(f"{shown}: not a Helm chart (no Chart.yaml)")
    args = _template_args(checkout, chart_dir, options, run)
    what = f"helm template {shown}"
    try:
        out = run.run(args, what=what, cwd=chart_dir)
    except RenderError as exc:
        if not any(marker in str(exc) for marker in _MISSING_DEPENDENCY):
            raise
        build_dependencies(checkout, chart_dir, run, credentials=credentials)
        out = run.run(args, what=what, cwd=chart_dir)
    try:
        return parse_manifests(out, source=what)
    except ManifestError as exc:
        raise RenderError(str(exc)) from None


def _template_args(checkout: Path, chart_dir: Path, options: ApplicationSourceHelm, run: ToolRun) -> list[str]:
    env = run.build_env
    # Every user value goes as --flag=value, so none can be taken for a flag of its own.
    args = [
        str(find_tool("helm")),
        "template",
        str(chart_dir),
        f"--name-template={options.release_name or env.app or 'release-name'}",
    ]
    namespace = options.namespace or env.namespace
    if namespace:
        args.append(f"--namespace={namespace}")
    kube_version = options.kube_version or env.kube_version
    if kube_version:
        args.append(f"--kube-version={kube_version}")
    for api_version in options.api_versions or env.api_versions:
        args.append(f"--api-versions={api_version}")
    for value_file in options.value_files:
        root, base, value = _locate(checkout, chart_dir, value_file, env, what="value file")
        path = _resolve(
            root, base, value, what="value file", original=value_file, missing_ok=options.ignore_missing_value_files
        )
        if path is not None:
            args.append(f"--values={path}")
    inline = _inline_values(options)
    if inline is not None:
        extra = run.home / "values-inline.yaml"
        extra.write_text(inline)
        run.name(extra, "spec.source.helm.values")
        args.append(f"--values={extra}")
    for parameter in options.parameters:
        flag = "--set-string" if parameter.force_string else "--set"
        args.append(f"{flag}={parameter.name}={_escape_commas(env.subst(parameter.value))}")
    for file_parameter in options.file_parameters:
        root, base, value = _locate(checkout, chart_dir, file_parameter.path, env, what="file parameter")
        path = _resolve(root, base, value, what="file parameter", original=file_parameter.path, missing_ok=False)
        args.append(f"--set-file={file_parameter.name}={_escape_commas(str(path))}")
    args.append("--skip-crds" if options.skip_crds else "--include-crds")
    if options.skip_tests:
        args.append("--skip-tests")
    if options.skip_schema_validation:
        args.append("--skip-schema-validation")
    return args


def _inline_values(options: ApplicationSourceHelm) -> str | None:
    """``valuesObject`` if set, else ``values`` (Argo CD: the object wins)."""
    if options.values_object is not None:
        return yaml.safe_dump(options.values_object, sort_keys=False)
    if options.values.strip():
        try:
            safe_yaml.safe_load(options.values, source="spec.source.helm.values")
        except yaml.YAMLError as exc:
            raise RenderError(f"spec.source.helm.values is not valid YAML: {exc}") from None
        return options.values
    return None


def _escape_commas(value: str) -> str:
    """Argo CD's ``cleanSetParameters``: ``a,b`` → ``a\\,b``, but ``{a,b}`` is a Helm list."""
    if value.startswith("{") and value.endswith("}"):
        return value
    return re.sub(r"(?<!\\),", r"\\,", value)


def _locate(checkout: Path, chart_dir: Path, raw: str, env: BuildEnv, *, what: str) -> tuple[Path, Path, str]:
    """(repository root, base directory, path) of a value file or file parameter.

    ``$values/envs/prod.yaml`` names a file of another source of a multi-source app (the
    one with ``ref: values``), from the root of that source's checkout, as in Argo CD; a
    ``$VAR`` of the build environment is substituted instead.
    """
    if raw.startswith("$"):
        name, _, rest = raw[1:].partition("/")
        name = name.strip("{}")
        if name in env.refs:
            ref_root = env.refs[name]
            return ref_root, ref_root, "/" + env.subst(rest)
        if name not in env.variables():
            raise RenderError(
                f"{what} {raw!r} refers to the source ref {name!r}, which no source of this "
                "app declares (spec.sources[].ref)"
            )
    return checkout, chart_dir, env.subst(raw)


def _resolve(checkout: Path, base: Path, value: str, *, what: str, original: str, missing_ok: bool) -> Path | None:
    """A value file or file parameter path, confined to ``checkout``."""
    if _URL.match(value):
        raise RenderError(
            f"{what} {original!r} is a URL; remote {what}s are not supported, commit the file to the repository"
        )
    checkout = checkout.resolve()
    if value.startswith("/"):
        relative = value.lstrip("/") or "."  # Argo CD: relative to the repository root
    else:
        relative = (base.resolve().relative_to(checkout) / value).as_posix()
    try:
        path = inside(checkout, relative, what=what)
    except RenderError:
        raise RenderError(f"{what} {original!r} resolves outside the repository: refused") from None
    if not path.exists():
        if missing_ok:
            return None
        raise RenderError(f"{what} {original!r} not found in the repository")
    if not path.is_file():
        raise RenderError(f"{what} {original!r} is not a file")
    return path


# -- dependencies


def chart_dependencies(chart_dir: Path) -> list[dict[str, Any]]:
    """``dependencies`` of Chart.yaml (apiVersion v2) or requirements.yaml (v1)."""
    found: list[dict[str, Any]] = []
    for name in ("Chart.yaml", "requirements.yaml"):
        path = chart_dir / name
        if not path.is_file():
            continue
        try:
            doc = safe_yaml.safe_load(path.read_text(), source=name) or {}
        except yaml.YAMLError as exc:
            raise RenderError(f"{name} of the chart is not valid YAML: {exc}") from None
        if isinstance(doc, dict):
            found += [d for d in doc.get("dependencies") or [] if isinstance(d, dict)]
    return found


def _chart_name(chart_dir: Path) -> str:
    try:
        doc = safe_yaml.safe_load((chart_dir / "Chart.yaml").read_text(), source="Chart.yaml") or {}
    except yaml.YAMLError:
        doc = {}
    return str(doc.get("name") or chart_dir.name) if isinstance(doc, dict) else chart_dir.name


def build_dependencies(
    checkout: Path, chart_dir: Path, run: ToolRun, *, credentials: CredentialStore | None = None
) -> None:
    """``helm dependency build``, after checking that every repository is one Bosun may use,
    logged in to those that have ``credentials``."""
    chart = _chart_name(chart_dir)
    dependencies = chart_dependencies(chart_dir)
    described = []
    remote: dict[str, RepoCredentials | None] = {}
    for dep in dependencies:
        name, repository = str(dep.get("name", "")), str(dep.get("repository", ""))
        described.append(f"{name} {dep.get('version', '')} from {repository or 'charts/'}".replace("  ", " "))
        if repository.startswith("file://"):
            local = repository.removeprefix("file://")
            base = chart_dir.resolve().relative_to(checkout.resolve())
            target = local.lstrip("/") if local.startswith("/") else (base / local).as_posix()
            try:
                inside(checkout, target, what="dependency")
            except RenderError:
                raise RenderError(
                    f"chart {chart!r}: dependency {name!r} has repository "
                    f"{repository!r}, outside the repository: refused"
                ) from None
        elif repository.startswith("@") or repository.startswith("alias:"):
            raise RenderError(
                f"chart {chart!r}: dependency {name!r} names the Helm repository "
                f"{repository!r}; this worker has no named repositories, use the "
                "repository URL in Chart.yaml"
            )
        elif not repository:
            raise RenderError(
                f"chart {chart!r}: dependency {name!r} is missing from charts/ and has no repository to fetch it from"
            )
        else:
            url = repository.rstrip("/")
            if url not in remote:
                run.fetch.check_source(url, f"chart {chart!r}: dependency {name!r} from {repository!r}")
                remote[url] = lookup_helm_credentials(credentials, url)
    args = [str(find_tool("helm")), "dependency", "build", str(chart_dir)]
    with contextlib.ExitStack() as stack:
        logins = {url: login for url, creds in remote.items() if (login := login_credentials(creds))}
        if logins:
            auth = stack.enter_context(HelmAuth.open(run))
            try:
                for url, login in logins.items():
                    _log_in(auth, url, login)
            except RenderError as exc:
                raise RenderError(f"chart {chart!r}: {exc}") from None
            args += auth.flags()
        try:
            run.run(args, what="helm dependency build", cwd=chart_dir, report_stdout=True)
        except RenderError as exc:
            refused = _refused_dependency(remote, str(exc), run)
            hint = f" — {refused}" if refused else ""
            raise RenderError(
                f"chart {chart!r}: could not fetch its dependencies ({'; '.join(described)}){hint}: {exc}"
            ) from None


def _refused_dependency(remote: dict[str, RepoCredentials | None], message: str, run: ToolRun) -> str | None:
    """Which dependency repository (named in helm's ``message``) refused, and why."""
    for url, creds in remote.items():
        shown = run.redact(url)
        refused = auth_failure(shown, message, creds) if shown in message else None
        if refused is not None:
            return refused
    return None


def _log_in(auth: HelmAuth, url: str, creds: RepoCredentials) -> str | None:
    """Log ``auth`` in to the repository ``url``: the name of an HTTP repository, None for OCI."""
    if url.startswith(("http://", "https://")):
        return auth.add_repository(url, creds)
    reference = url.removeprefix("oci://")
    auth.login(reference.split("/", 1)[0], url, creds)
    return None


# -- charts from Helm repositories


def pull_chart(source: ApplicationSource, run: ToolRun, *, credentials: CredentialStore | None = None) -> Path:
    """Fetch ``source.chart`` from its Helm repository or OCI registry, with the
    ``credentials`` the store has for it; the chart directory."""
    chart = source.chart.strip()
    if not _CHART_NAME.fullmatch(chart):
        raise RenderError(f"chart {source.chart!r} is not a chart name")
    repo = source.repo_url.rstrip("/")
    creds = lookup_helm_credentials(credentials, repo)
    version = source.target_revision.strip()
    helm = str(find_tool("helm"))
    destination = run.home / "pulled"
    destination.mkdir(exist_ok=True)
    args = [helm, "pull", "--untar", f"--untardir={destination}"]
    if version and version != "HEAD":
        args.append(f"--version={version}")
    if creds is not None and creds.insecure:
        args.append("--insecure-skip-tls-verify")
    shown_version = f" {version}" if version and version != "HEAD" else ""
    with contextlib.ExitStack() as stack:
        name = None
        login = login_credentials(creds)
        if login is not None:
            auth = stack.enter_context(HelmAuth.open(run))
            args += auth.flags()
            name = _log_in(auth, repo, login)
        if repo.startswith(("http://", "https://")):
            args += ["--", f"{name}/{chart}"] if name else [f"--repo={repo}", "--", chart]
        else:  # oci://registry/path, or Argo CD's scheme-less registry/path
            reference = repo.removeprefix("oci://")
            if is_loopback(reference.split("/", 1)[0]):
                args.append("--plain-http")  # as Docker treats localhost registries
            args += ["--", f"oci://{reference}/{chart}"]
        try:
            run.run(args, what=f"helm pull {chart}{shown_version} from {run.redact(repo)}", cwd=destination)
        except RenderError as exc:
            refused = auth_failure(run.redact(repo), str(exc), creds)
            if refused is None:
                raise
            raise RenderError(f"{refused}: {exc}") from None
    chart_dir = destination / chart
    if not (chart_dir / "Chart.yaml").is_file():
        raise RenderError(f"helm pull {chart}{shown_version}: no {chart}/Chart.yaml in the archive")
    return chart_dir
