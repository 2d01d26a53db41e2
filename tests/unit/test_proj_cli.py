"""``bosun proj create -f``: the file is read by bosun.models' YAML loader before any cluster call."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.proj import proj


def test_invalid_yaml_is_a_usage_error_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text("apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: [oops\n")
    result = CliRunner().invoke(proj, ["create", "-f", str(path), "--kubeconfig", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert f"error: {path}: invalid YAML at line " in result.stderr


def test_a_repeated_key_is_refused_as_for_applications(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text("apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: a}\nspec: {}\nspec: {}\n")
    result = CliRunner().invoke(proj, ["create", "-f", str(path), "--kubeconfig", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "duplicate key 'spec'" in result.stderr


def test_create_warns_of_restrictions_bosun_refuses_and_fields_it_ignores(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: team}\n"
        "spec:\n  sourceRepos: ['*']\n  signatureKeys: [{keyID: 4AEE18F83AFDEB23}]\n"
        "  orphanedResources: {warn: true}\n"
    )
    result = CliRunner().invoke(proj, ["create", "-f", str(path), "--kubeconfig", str(tmp_path / "none")])
    assert "warning: project 'team' sets spec.signatureKeys (" in result.stderr
    assert "until then its applications are not synced" in result.stderr
    assert "warning: Bosun does not act on spec.orphanedResources" in result.stderr
