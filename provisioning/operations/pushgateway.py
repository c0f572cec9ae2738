"""``nightly --push-gateway URL``: the run's metrics pushed to a Prometheus Pushgateway.

The textfile collector (``--metrics``) suits a management host running
node_exporter.  A nightly run *inside* the cluster is a Kubernetes Job: its
pod is gone by the time anything scrapes, its runs volume is
ReadWriteOnce, and a node_exporter textfile directory would be a hostPath,
which the ``restricted`` Pod Security level of its namespace forbids (and
the file would be served by whichever node ran the Job, then left stale
there).  Prometheus's documented place for the outcome of a service-level
batch job is the Pushgateway
(https://prometheus.io/docs/practices/pushing/), so the Job pushes the same
exposition text it wrote to the file.

One ``PUT /metrics/job/<job>`` per run
(https://github.com/prometheus/pushgateway#put-method): PUT replaces every
metric of the group, so a control that no longer exists leaves no stale
series behind.  The body is the text format, which the Pushgateway accepts
as is; the file's text is pushed unchanged, so the two outputs cannot
disagree.  Prometheus should scrape the Pushgateway with ``honor_labels:
true`` (the Pushgateway README), and ``talos_conformance_run_timestamp_seconds``
is how a missed push is noticed: the Pushgateway keeps serving the last one.

Standard library only (``urllib``): the runner needs no client library for
one request.  The URL may not carry credentials, which would be printed
with every message naming it.
"""

from __future__ import annotations

import argparse
import urllib.error
import urllib.parse
import urllib.request

JOB = "talos_conformance"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TIMEOUT = 30.0


class PushFailed(Exception):
    """The Pushgateway did not take the metrics; the message names the URL and why."""


def gateway_url(text: str) -> str:
    """*text* checked as a Pushgateway base URL (an ``argparse`` type)."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL such as http://pushgateway.monitoring.svc:9091"
        )
    if parts.username is not None or parts.password is not None:
        raise argparse.ArgumentTypeError("credentials in the URL would be printed; leave them out")
    if parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r}: no query or fragment, only the base URL")
    return text.rstrip("/")


def group_url(gateway: str, job: str = JOB) -> str:
    """The URL of *job*'s group on *gateway*."""
    return f"{gateway.rstrip('/')}/metrics/job/{urllib.parse.quote(job, safe='')}"


def push(gateway: str, text: str, *, job: str = JOB, timeout: float = TIMEOUT) -> str:
    """PUT *text* as *job*'s metrics; the group URL, or :class:`PushFailed`."""
    url = group_url(gateway, job)
    request = urllib.request.Request(
        url,
        data=text.encode("utf-8"),
        method="PUT",
        headers={"Content-Type": CONTENT_TYPE},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", errors="replace").strip()
        raise PushFailed(f"{url}: HTTP {exc.code} {detail}".rstrip()) from None
    except urllib.error.URLError as exc:
        raise PushFailed(f"{url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, a malformed response
        raise PushFailed(f"{url}: {exc}") from None
    if not 200 <= status < 300:
        raise PushFailed(f"{url}: HTTP {status}")
    return url
