"""A compare on a worker whose store misses the rendered manifests renders them again, which
fetches the sources: the project's sourceRepos and destinations are checked before that, and
only then (a store hit fetches nothing, and the full check with every object follows anyway)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cluster import ClusterActivities
from activities.contracts import CompareInput, RenderInput
from activities.settings import SettingsReader
from activities.store import ContentStore
from bosun.models import AppProject, parse_project
from bosun.settings import Settings
from tests.unit.test_cluster_tracking import DESTINATION, FakeClusters, FakeKube

ALLOWED = "https://git.example.com/team/app.git"


class Projects:
    def read(self, name: str) -> tuple[AppProject, bool]:
        document: dict[str, Any] = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": name, "namespace": "bosun"},
            "spec": {"sourceRepos": [ALLOWED], "destinations": [{"server": "*", "namespace": "*"}]},
        }
        return parse_project(document, source_name="test"), False


OBJECTS = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}]


def compare_after_a_store_miss(tmp_path: Path, repo_url: str, rendered: list[RenderInput]) -> None:
    """Compare a digest another worker's store holds, not this one's; ``rendered`` gets the
    recipes this worker rendered again."""
    missing = ContentStore(tmp_path / "other-worker").put_json(OBJECTS)
    store = ContentStore(tmp_path / "store")

    def rerender(recipe: RenderInput) -> str:
        rendered.append(recipe)
        return store.put_json(OBJECTS)

    acts = ClusterActivities(
        clusters=FakeClusters(FakeKube()),  # type: ignore[arg-type]
        store=store,
        projects=Projects(),  # type: ignore[arg-type]
        settings=SettingsReader.static(Settings()),
        rerender=rerender,
    )
    ActivityEnvironment().run(
        acts.compare,
        CompareInput(
            app="web",
            manifests_digest=missing,
            destination=DESTINATION,
            repo_urls=[repo_url],
            render=RenderInput(app="web", repo_url=repo_url, commit="a" * 40, source={"repoURL": repo_url}),
        ),
    )


def test_a_denied_repository_is_not_rendered_again(tmp_path: Path) -> None:
    rendered: list[RenderInput] = []
    with pytest.raises(ApplicationError) as raised:
        compare_after_a_store_miss(tmp_path, "https://git.example.com/other/secrets.git", rendered)
    assert raised.value.type == "ProjectViolation" and "spec.sourceRepos" in str(raised.value)
    assert rendered == []


def test_a_permitted_repository_is_rendered_again(tmp_path: Path) -> None:
    rendered: list[RenderInput] = []
    compare_after_a_store_miss(tmp_path, ALLOWED, rendered)
    assert len(rendered) == 1
