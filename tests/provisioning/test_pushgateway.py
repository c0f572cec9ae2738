"""``nightly --push-gateway``: the metrics PUT to a Pushgateway, recorded by a server on 127.0.0.1.

The server stands in for the Pushgateway's push API only (method, path,
content type, body); what the Pushgateway then serves is its own business.
The body is read back with prometheus_client's text parser, the parser
Prometheus's own Python client uses.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from provisioning.__main__ import main
from provisioning.operations import nightly, nightly_runs, pushgateway
from reports import metrics, summary

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Gateway:
    """What the stand-in Pushgateway received, and how it answers."""

    url: str
    requests: list[tuple[str, str, str, str]] = field(default_factory=list)
    status: int = 200
    reply: bytes = b""


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    recorded = Gateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            recorded.requests.append(
                (self.command, self.path, self.headers.get("Content-Type", ""), body)
            )
            self.send_response(recorded.status)
            self.send_header("Content-Length", str(len(recorded.reply)))
            self.end_headers()
            self.wfile.write(recorded.reply)

        do_PUT = do_POST = _record  # http.server dispatches on the method name

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def exposition(outcome: str = "failed") -> str:
    result = summary.summarize(
        [summary.Record("a", outcome, ("HYG-04",), "config_hygiene", "t", "normal")]
    )
    return metrics.render(
        result,
        {"HYG-04": metrics.ControlFindings(1, 0)},
        finished=1796000000,
        duration=3.5,
        expired_waivers=0,
    )


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        f.name: [(s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(text)
    }


def test_push_puts_the_exposition_to_the_job_group(gateway: Gateway) -> None:
    text = exposition()
    url = pushgateway.push(gateway.url, text)
    assert url == f"{gateway.url}/metrics/job/talos_conformance"
    ((method, path, content_type, body),) = gateway.requests
    assert (method, path) == ("PUT", "/metrics/job/talos_conformance")
    assert content_type.startswith("text/plain; version=0.0.4")
    assert body == text
    status = families(body)["talos_conformance_control_status"]
    assert status == [
        (
            {
                "control": "HYG-04",
                "area": "config_hygiene",
                "severity": "normal",
                "outcome": "failed",
            },
            0.0,
        )
    ]


def test_a_refusing_gateway_is_a_push_failure_naming_url_and_reason(gateway: Gateway) -> None:
    gateway.status, gateway.reply = 400, b"pushed metrics are invalid or inconsistent"
    with pytest.raises(pushgateway.PushFailed) as caught:
        pushgateway.push(gateway.url, exposition())
    assert str(caught.value) == (
        f"{gateway.url}/metrics/job/talos_conformance: HTTP 400 "
        "pushed metrics are invalid or inconsistent"
    )


def test_an_unreachable_gateway_is_a_push_failure() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(pushgateway.PushFailed, match=rf"^{url}/metrics/job/talos_conformance: "):
        pushgateway.push(url, exposition(), timeout=5)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("pushgateway:9091", "is not an http(s) URL"),
        ("ftp://gw:9091", "is not an http(s) URL"),
        ("http://user:secret@gw:9091", "credentials in the URL would be printed"),
        ("http://gw:9091/?x=1", "no query or fragment"),
    ],
)
def test_the_gateway_url_is_checked_when_parsed(
    given: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nightly", "--runs-dir", "x", "--push-gateway", given])
    assert exc.value.code == nightly.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err
    assert "secret" not in err


# --- the nightly runner pushes what the run wrote -------------------------------------------


def fake_suite(
    *, writes_metrics: bool, status: int = 1
) -> Callable[[list[str], Path, Path, float], int]:
    def run_suite(command: list[str], root: Path, log: Path, timeout: float) -> int:
        out = Path(command[command.index("--summary-dir") + 1])
        controls = {"HYG-04": {"result": "failed", "title": "t"}}
        (out / "summary.json").write_text(
            json.dumps({"run": {}, "totals": {}, "controls": controls})
        )
        if writes_metrics:
            target = Path(command[command.index("--metrics") + 1])
            metrics.write_atomically(target, exposition())
        log.write_text("1 failed\n")
        return status

    return run_suite


def nightly_argv(runs: Path, tmp_path: Path, gateway_url: str) -> list[str]:
    return [
        "nightly",
        "--runs-dir",
        str(runs),
        "--cluster",
        str(ROOT / "cluster"),
        "--sim-state",
        str(tmp_path / "sim"),
        "--no-html",
        "--push-gateway",
        gateway_url,
    ]


def test_nightly_pushes_the_metrics_file_it_wrote(
    gateway: Gateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(nightly, "run_suite", fake_suite(writes_metrics=True))
    runs = tmp_path / "runs"
    assert main(nightly_argv(runs, tmp_path, gateway.url)) == nightly.EXIT_NEW_FAILURES
    ((method, path, _, body),) = gateway.requests
    assert (method, path) == ("PUT", "/metrics/job/talos_conformance")
    assert body == (runs / nightly.METRICS_FILE).read_text()
    assert f"metrics pushed to {gateway.url}/metrics/job/talos_conformance" in (
        capsys.readouterr().out
    )


def test_nightly_does_not_push_an_earlier_runs_metrics(
    gateway: Gateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = tmp_path / "runs"
    metrics.write_atomically(runs / nightly.METRICS_FILE, exposition("passed"))
    monkeypatch.setattr(nightly, "run_suite", fake_suite(writes_metrics=False))
    assert main(nightly_argv(runs, tmp_path, gateway.url)) == nightly.EXIT_NEW_FAILURES
    assert gateway.requests == []
    assert "metrics not pushed to" in capsys.readouterr().err


def test_a_failed_push_is_a_warning_and_keeps_the_runs_status(
    gateway: Gateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gateway.status = 500
    monkeypatch.setattr(nightly, "run_suite", fake_suite(writes_metrics=True))
    runs = tmp_path / "runs"
    assert main(nightly_argv(runs, tmp_path, gateway.url)) == nightly.EXIT_NEW_FAILURES
    assert len(gateway.requests) == 1
    assert "metrics not pushed: " in capsys.readouterr().err
    (run,) = nightly_runs.list_runs(runs)
    assert (run.path / "changes.json").is_file()
