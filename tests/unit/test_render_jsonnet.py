"""Jsonnet in Directory sources: TLAs, extVars, libs, and imports confined to the checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activities.renderers import RenderError, render_source
from bosun.resources import Manifest
from tests.unit.render_support import write_tree

REPO = {
    "app/main.jsonnet": """
local k = import 'k.libsonnet';
local shared = import '../shared/labels.libsonnet';
function(replicas, debug=false, name='web')
  [
    k.deployment(name, replicas, std.extVar('image')) + {metadata+: {labels: shared}},
    k.config(name + '-config', {debug: std.toString(debug), env: std.extVar('env'),
                                 motd: importstr 'motd.txt',
                                 settings: std.toString(std.extVar('settings'))}),
  ]
""",
    "app/motd.txt": "hello",
    "app/plain.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\n",
    "app/helpers.libsonnet": "{ this_is: 'not rendered on its own' }",
    "shared/labels.libsonnet": "{ team: 'shop' }",
    "vendor/k.libsonnet": """
{
  deployment(name, replicas, image):: {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: name},
    spec: {replicas: replicas, template: {spec: {containers: [{name: name, image: image}]}}},
  },
  config(name, data):: {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: name}, data: data},
}
""",
}

OPTIONS: dict[str, Any] = {
    "tlas": [{"name": "replicas", "value": "3", "code": True}, {"name": "name", "value": "$ARGOCD_APP_NAME"}],
    "extVars": [
        {"name": "image", "value": "nginx:1.27"},
        {"name": "env", "value": "prod"},
        {"name": "settings", "value": "{a: 1 + 1}", "code": True},
    ],
    "libs": ["vendor"],
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", REPO)


def render(checkout: Path, directory: dict[str, Any], path: str = "app") -> list[Manifest]:
    source = {"repoURL": "https://git.example.com/shop.git", "path": path, "directory": directory}
    return render_source(checkout, source, app="shop", namespace="prod")


def test_tlas_ext_vars_and_libs(repo: Path) -> None:
    objects = render(repo, {"jsonnet": OPTIONS})
    # Files in walk order: main.jsonnet, then plain.yaml; .libsonnet files are not rendered.
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Deployment", "shop"),
        ("ConfigMap", "shop-config"),
        ("ServiceAccount", "web"),
    ]
    deployment, config = objects[0], objects[1]
    assert deployment["spec"]["replicas"] == 3  # code: true → a number
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert deployment["metadata"]["labels"] == {"team": "shop"}
    assert config["data"] == {"debug": "false", "env": "prod", "motd": "hello", "settings": '{"a": 2}'}


def test_include_exclude_apply_to_jsonnet_files(repo: Path) -> None:
    objects = render(repo, {"jsonnet": OPTIONS, "exclude": "*.jsonnet"})
    assert [o["kind"] for o in objects] == ["ServiceAccount"]
    objects = render(repo, {"jsonnet": OPTIONS, "include": "main.jsonnet"})
    assert [o["kind"] for o in objects] == ["Deployment", "ConfigMap"]


def test_missing_tla_is_a_jsonnet_error_naming_the_file(repo: Path) -> None:
    with pytest.raises(RenderError, match=r"^app/main.jsonnet: RUNTIME ERROR: .*replicas"):
        render(repo, {"jsonnet": {**OPTIONS, "tlas": []}})


def test_auto_detected_directory_renders_jsonnet_without_options(repo: Path) -> None:
    write_tree(
        repo,
        {
            "simple/cm.jsonnet": "{apiVersion: 'v1', kind: 'ConfigMap', "
            "metadata: {name: 'x'}, data: {n: std.toString(1+1)}}"
        },
    )
    source = {"repoURL": "https://git.example.com/shop.git", "path": "simple"}
    objects = render_source(repo, source, app="shop")
    assert objects == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"n": "2"}}]


# -- imports and libs stay in the checkout


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "import '../../../../../../etc/passwd'",
            "import '../../../../../../etc/passwd' resolves outside the repository: refused",
        ),
        ("importstr '/etc/passwd'", "import '/etc/passwd' is an absolute path: refused"),
        ("importbin '../../outside.bin'", "import '../../outside.bin' resolves outside the repository"),
    ],
)
def test_imports_outside_the_repository_are_refused(repo: Path, code: str, message: str) -> None:
    (repo.parent / "outside.bin").write_bytes(b"\x00")
    write_tree(repo, {"app/main.jsonnet": code})
    with pytest.raises(RenderError, match=message):
        render(repo, {"jsonnet": OPTIONS})


def test_lib_outside_the_repository_is_refused(repo: Path) -> None:
    with pytest.raises(RenderError, match="jsonnet lib '../outside' resolves outside the repo"):
        render(repo, {"jsonnet": {**OPTIONS, "libs": ["../outside"]}})


def test_lib_symlinked_out_of_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "elsewhere", {"k.libsonnet": "{}"})
    (repo / "vendor2").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RenderError, match="vendor2 is a link to .*outside the repository"):
        render(repo, {"jsonnet": {**OPTIONS, "libs": ["vendor2"]}})


def test_endless_recursion_is_an_error_not_a_hang(repo: Path) -> None:
    write_tree(repo, {"app/main.jsonnet": "local f(x) = f(x + 1); f(0)"})
    with pytest.raises(RenderError, match="app/main.jsonnet: RUNTIME ERROR: max stack frames"):
        render(repo, {"jsonnet": OPTIONS})
