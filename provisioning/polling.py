"""Poll intervals of every wait for a cluster to settle: short at first, then the usual pace.

Why: a wait's first look usually comes a moment too early (a controller acts
just after the write that started the wait) and its second look usually
succeeds.  A fixed interval makes every such wait cost the whole interval;
doubling from a short first interval up to the usual one costs a fraction of
it, while a wait that really takes long still polls the cluster at the usual,
gentle pace.  Used by provisioning's ``wait_for`` and remediation's settling.
"""

from __future__ import annotations

from collections.abc import Iterator

FIRST_INTERVAL = 0.1


def intervals(ceiling: float, first: float = FIRST_INTERVAL) -> Iterator[float]:
    """``first``, doubled each time, capped at *ceiling* (never more than *ceiling*)."""
    interval = min(first, ceiling)
    while True:
        yield interval
        interval = min(interval * 2, ceiling)
