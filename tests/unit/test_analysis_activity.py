"""The analysis activity's pure parts and the Web provider against a local HTTP server:
the JSONPath subset, Job names, Prometheus value text, Secret args substituted and redacted."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from activities.analysis import AnalysisActivities, MeasureInput, _number_text, job_name, json_path
from activities.contracts import Destination
from bosun.analysis.run import Phase
from bosun.analysis.spec import Argument, Metric, SecretRef

DOC = {"data": {"ok": True, "rate": 0.97, "items": [{"v": 1}, {"v": 2}], "a-b": "x"}}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("{$.data.ok}", True),
        ("{$.data.rate}", 0.97),
        ("{$.data.items[1].v}", 2),
        ("{$.data.items[*].v}", [1, 2]),
        ("{$.data['a-b']}", "x"),
        ("{$}", DOC),
        ("{.data.ok}", True),
    ],
)
def test_json_path(path: str, value: Any) -> None:
    assert json_path(DOC, path) == value


@pytest.mark.parametrize("path", ["{$.data.missing}", "{$.data.items[5]}", "{$.data..x}"])
def test_json_path_errors(path: str) -> None:
    with pytest.raises(ValueError, match="jsonPath"):
        json_path(DOC, path)


def test_job_name_is_argo_shaped_and_dns_safe() -> None:
    assert job_name("0f3c-uid", "Smoke_Test", 2) == "0f3c-uid.smoke-test.2"
    assert len(job_name("u" * 36, "m" * 400, 1)) <= 253


@pytest.mark.parametrize(("value", "text"), [(0.99, "0.99"), (1.0, "1"), (float("nan"), "NaN"), (float("inf"), "+Inf")])
def test_prometheus_value_text(value: float, text: str) -> None:
    assert _number_text(value) == text


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        _Handler.seen.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
        body = json.dumps(DOC).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Secrets:
    """A cluster registry whose one client reads one Secret."""

    def client(self, destination: Destination) -> _Secrets:
        return self

    def get(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        assert obj["kind"] == "Secret" and obj["metadata"] == {"name": "creds", "namespace": "prod"}
        return {"data": {"token": base64.b64encode(b"hunter2").decode()}}


async def measure(url: str, **metric: Any) -> Any:
    activities = AnalysisActivities(clusters=_Secrets())  # type: ignore[arg-type]
    return await activities.measure(
        MeasureInput(
            destination=Destination(name="in-cluster"),
            namespace="prod",
            run_name="r",
            metric=Metric(name="m", provider_type="web", provider={"url": url, **metric.pop("provider", {})}, **metric),
            secret_args=[Argument(name="token", secret=SecretRef(name="creds", key="token"))],
        )
    )


async def test_web_measurement_with_a_secret_header(server: str) -> None:
    result = await measure(
        f"{server}/q",
        provider={"headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}], "jsonPath": "{$.data.rate}"},
        success_condition="result > 0.9",
    )
    assert (result.phase, result.value) == (Phase.SUCCESSFUL, "0.97")
    assert _Handler.seen[-1] == {"path": "/q", "auth": "Bearer hunter2"}
    assert result.started_at is not None and result.finished_at is not None


async def test_secret_values_are_redacted_from_messages() -> None:
    result = await measure("http://127.0.0.1:1/{{args.token}}")
    assert result.phase == Phase.ERROR
    assert "hunter2" not in result.message
    assert "/*****" in result.message


async def test_a_condition_that_does_not_evaluate_is_an_error_measurement(server: str) -> None:
    result = await measure(server, provider={"jsonPath": "{$.data}"}, success_condition="result.ok > 1")
    assert result.phase == Phase.ERROR
    assert "successCondition 'result.ok > 1'" in result.message


async def test_secret_args_in_conditions_are_substituted_too(server: str) -> None:
    result = await measure(
        server, provider={"jsonPath": "{$.data.a-b}"}, success_condition="result != '{{args.token}}'"
    )
    assert result.phase == Phase.SUCCESSFUL
