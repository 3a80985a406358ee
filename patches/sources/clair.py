"""A Clair v2 server's API v1: every vulnerability of the namespaces mapped to a platform.

The list endpoint pages through summaries (no ``FixedIn``); each vulnerability's fixes need a detail
request. Those are made concurrently (``concurrency`` in flight, keep-alive, gzip) and handed on in
list order, so the window receives records in source order.

Edge cases handled, as a real Clair v2.1.0 shows them: ``null`` lists; ``limit=0`` answering an
empty page with a ``NextPage`` (``page_size`` is at least 1, and an empty page ends the walk);
no ``NextPage`` on the last page; page tokens that expire after an hour (the walk starts again from
the first page and skips what it already passed, so nothing is lost or repeated); ``"Version":
"None"`` (no fix yet: sent as ``null``); plain-text 404s for unknown routes.

A resume position is ``(namespace index, page start, page token, index in page, name)``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from patches.model import FixedIn, RecordError, Severity, Vulnerability
from patches.sources.base import Position, Source, SourceError, SourceRecord
from patches.sources.clair_client import ClairClient, ExpiredPage
from patches.sources.platforms import clair_platform

__all__ = ["CLAIR_SEVERITIES", "ClairOptions", "ClairSource"]

log = logging.getLogger(__name__)

#: Clair v2's severities, lowest to highest, onto 0..6 in order; anything else is Unknown.
CLAIR_SEVERITIES = {
    "unknown": Severity.UNKNOWN,
    "negligible": Severity.NEGLIGIBLE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.URGENT,
    "defcon1": Severity.CRITICAL,
}

#: What Clair writes as the fixed version of a package that has no fix yet.
_NOT_FIXED = frozenset({"", "None"})

_Summary = tuple[tuple[int, str, int, str], dict[str, Any]]

#: Walks of one namespace in a row that may end on an expired token before giving up.
_MAX_WALKS = 3


@dataclass(frozen=True)
class ClairOptions:
    """Configuration keys of a ``kind = "clair"`` source."""

    #: The Clair API's base URL, e.g. ``http://clair:6060``.
    url: str
    #: The platforms to serve; when left out, every namespace's. Declared platforms also spare
    #: asking Clair for its namespaces at start-up.
    platforms: tuple[str, ...] = ()
    #: Platform names for namespaces, overriding the rules, e.g. { "centos:7" = "rhel:7" }.
    namespaces: dict[str, str] = field(default_factory=dict)
    #: Summaries per list page (Clair's ``limit``; never 0, which never ends).
    page_size: int = field(default=100, metadata={"min": 1, "max": 10_000})
    #: Detail requests in flight at once.
    concurrency: int = field(default=32, metadata={"min": 1, "max": 256})
    timeout_seconds: float = field(default=30.0, metadata={"min": 0.1})
    #: Retries of one request on 500, 502-504 and network errors, with exponential backoff.
    request_retries: int = field(default=3, metadata={"min": 0, "max": 20})
    request_backoff_seconds: float = field(default=0.2, metadata={"min": 0.0})


class ClairSource(Source):
    """Vulnerabilities from Clair v2, walked namespace by namespace, page by page."""

    kind = "clair"

    def __init__(self, name: str, options: ClairOptions) -> None:
        super().__init__(name)
        self.options = options
        self.client = ClairClient(
            options.url,
            connections=options.concurrency + 1,
            timeout_seconds=options.timeout_seconds,
            retries=options.request_retries,
            backoff_seconds=options.request_backoff_seconds,
        )
        self._pool: ThreadPoolExecutor | None = None

    def platforms(self) -> frozenset[str]:
        if self.options.platforms:
            return frozenset(self.options.platforms)
        return frozenset(self._platform(ns) for ns in self.client.namespaces())

    def records(self, platform: str, after: Position | None = None) -> Iterator[SourceRecord]:
        namespaces = sorted(ns for ns in self.client.namespaces() if self._platform(ns) == platform)
        first, resume = _parse_position(after)
        for index in range(first, len(namespaces)):
            summaries = self._walk(namespaces[index], resume if index == first else None)
            for position, record in self._details(namespaces[index], platform, summaries):
                self.stats.count_record()
                yield SourceRecord(record, (index, *position))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.client.close()

    @property
    def requests(self) -> int:
        """HTTP requests sent to Clair, retries included."""
        return self.client.requests

    def _platform(self, namespace: str) -> str:
        return clair_platform(namespace, self.options.namespaces)

    def _walk(
        self,
        namespace: str,
        resume: tuple[int, str, int, str] | None,
        walks: int = 1,
        floor: int = 0,
    ) -> Iterator[_Summary]:
        """Summaries in list order, each with its position (resuming there continues after it).

        ``walks`` counts the walks that expired before getting past ``floor`` (where the last one
        had got to): a walk that keeps expiring without progress gives up.
        """
        page_start, token, skip, last = (0, "", 0, "") if resume is None else resume
        if resume is not None:
            skip += 1
        while True:
            try:
                summaries, next_token = self.client.page(namespace, token, self.options.page_size)
            except ExpiredPage:
                if page_start + skip > floor:
                    walks = 1  # it got further than the walk before it
                if walks >= _MAX_WALKS:
                    raise SourceError(
                        f"{namespace}: page tokens expired {walks} times in one walk"
                    ) from None
                log.warning(
                    "%s: page token of %s expired; walking again from the first page, "
                    "skipping the %d summaries already passed", self.name, namespace,
                    page_start + skip,
                )  # fmt: skip
                yield from self._walk_again(namespace, page_start + skip, last, walks + 1)
                return
            for index in range(skip, len(summaries)):
                name = summaries[index].get("Name")
                if isinstance(name, str) and name:
                    last = name
                    yield (page_start, token, index, name), summaries[index]
            if not summaries or not next_token:
                return
            page_start, token, skip = page_start + len(summaries), next_token, 0

    def _walk_again(self, namespace: str, passed: int, last: str, walks: int) -> Iterator[_Summary]:
        """A fresh walk that skips the first ``passed`` summaries (Clair lists by insertion)."""
        for count, (position, summary) in enumerate(self._walk(namespace, None, walks, passed), 1):
            if count < passed:
                continue
            if count == passed:
                if last and position[3] != last:
                    log.warning(
                        "%s: %s changed while walking it (expected %s at %d, found %s)",
                        self.name, namespace, last, passed, position[3],
                    )  # fmt: skip
                continue
            yield position, summary

    def _details(
        self, namespace: str, platform: str, summaries: Iterator[_Summary]
    ) -> Iterator[tuple[tuple[int, str, int, str], Vulnerability]]:
        """Fetch details ``concurrency`` at a time; yield the records in list order."""
        pool = self._executor()
        pending: deque[tuple[tuple[int, str, int, str], Future[dict[str, Any] | None]]] = deque()
        try:
            while True:
                while len(pending) < self.options.concurrency:
                    summary = next(summaries, None)
                    if summary is None:
                        break
                    position, _ = summary
                    pending.append(
                        (position, pool.submit(self.client.detail, namespace, position[3]))
                    )
                if not pending:
                    return
                position, future = pending.popleft()
                detail = future.result()
                if detail is None:
                    log.warning(
                        "%s: %s vanished from %s while being read",
                        self.name,
                        position[3],
                        namespace,
                    )
                    continue
                try:
                    yield position, _vulnerability(detail, platform)
                except RecordError as e:
                    self.stats.count_malformed()
                    log.warning("%s: %s in %s skipped: %s", self.name, position[3], namespace, e)
        finally:
            for _, future in pending:
                future.cancel()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.options.concurrency, thread_name_prefix=f"clair-{self.name}"
            )
        return self._pool


def _vulnerability(detail: dict[str, Any], platform: str) -> Vulnerability:
    name = detail.get("Name")
    if not isinstance(name, str) or not name:
        raise RecordError("no Name")
    fixed_in = []
    for fix in detail.get("FixedIn") or []:
        if not isinstance(fix, dict) or not isinstance(fix.get("Name"), str) or not fix["Name"]:
            raise RecordError("a FixedIn entry has no Name")
        version = fix.get("Version")
        fixed_in.append(
            FixedIn(fix["Name"], None if version in _NOT_FIXED or version is None else str(version))
        )
    severity = CLAIR_SEVERITIES.get(str(detail.get("Severity", "")).lower(), Severity.UNKNOWN)
    link = detail.get("Link")
    return Vulnerability(
        name, platform, link if isinstance(link, str) else "", severity, tuple(fixed_in)
    )


def _parse_position(after: Position | None) -> tuple[int, tuple[int, str, int, str] | None]:
    if after is None:
        return 0, None
    if isinstance(after, tuple | list) and len(after) == 5:
        index, page_start, token, in_page, name = after
        if all(isinstance(v, int) for v in (index, page_start, in_page)) and isinstance(token, str):
            return int(index), (int(page_start), token, int(in_page), str(name))
    raise SourceError(f"not a Clair resume position: {after!r}")
