"""Turning one OSV record into Patches records: one per platform it affects.

The rules, also in ``docs/sources.md``:

- ``ECOSYSTEM`` and ``SEMVER`` ranges: every ``fixed`` event is a fixed version, one ``fixedIn``
  entry each (a package fixed on several release branches has several).
- A package with no ``fixed`` event (only ``introduced``, or ``last_affected``) is listed once
  with ``version: null``: no fixed version is known.
- ``GIT`` ranges name commits, which a scanner cannot compare with an installed version: they add
  no ``fixedIn`` entry (a package with only ``GIT`` ranges is listed with ``version: null``).
- Withdrawn records are skipped. ``ecosystem_specific`` and ``database_specific`` of affected
  entries are not interpreted (they are each database's own).
- Severity: the newest CVSS vector of the affected entries of the platform, else of the record;
  else ``database_specific.severity`` (GitHub's words); else an ``Ubuntu`` priority; else Unknown.
- ``detailsHref``: the first ``ADVISORY`` reference, else ``database_specific.url``, else the
  record's osv.dev page. ``aliases`` are kept (the v1 API sends them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patches.model import FixedIn, RecordError, Severity, Vulnerability
from patches.sources.platforms import osv_platform
from patches.sources.severity import cvss_severity, word_severity

__all__ = ["OSV_PAGE", "ecosystems_of", "osv_to_records"]

OSV_PAGE = "https://osv.dev/vulnerability/{}"


def ecosystems_of(record: Mapping[str, Any]) -> set[str]:
    """The ecosystems a decoded OSV record names in its affected packages."""
    found = set()
    for affected in _list(record.get("affected")):
        ecosystem = _dict(affected.get("package")).get("ecosystem")
        if isinstance(ecosystem, str) and ecosystem:
            found.add(ecosystem)
    return found


def osv_to_records(
    record: Mapping[str, Any], overrides: Mapping[str, str] | None = None
) -> dict[str, Vulnerability]:
    """The Patches record for each platform an OSV record affects, by platform.

    Raises:
        RecordError: the record has no ``id``, or fields of the wrong type.
    """
    if not isinstance(record, Mapping):
        raise RecordError("an OSV record is a JSON object")
    osv_id = record.get("id")
    if not isinstance(osv_id, str) or not osv_id:
        raise RecordError("an OSV record needs an id")
    if record.get("withdrawn"):
        return {}
    aliases = tuple(a for a in _list(record.get("aliases")) if isinstance(a, str) and a)
    href = _details_href(record, osv_id)
    record_severity = _severity(_list(record.get("severity")))
    packages: dict[str, dict[str, list[str | None]]] = {}
    severities: dict[str, Severity] = {}
    for affected in _list(record.get("affected")):
        package = _dict(affected.get("package"))
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not isinstance(ecosystem, str) or not ecosystem or not isinstance(name, str) or not name:
            continue
        platform = osv_platform(ecosystem, overrides)
        fixes = packages.setdefault(platform, {}).setdefault(name, [])
        for version in _fixed_versions(affected):
            if version not in fixes:
                fixes.append(version)
        severity = _severity(_list(affected.get("severity")))
        if severity is not None:
            severities[platform] = max(severity, severities.get(platform, severity))
    fallback = record_severity or _database_severity(record) or Severity.UNKNOWN
    result = {}
    for platform, by_name in packages.items():
        fixed_in = tuple(
            FixedIn(name, version)
            for name, versions in by_name.items()
            for version in (versions or [None])
        )
        severity = severities.get(platform, fallback)
        result[platform] = Vulnerability(osv_id, platform, href, severity, fixed_in, aliases)
    return result


def _fixed_versions(affected: Mapping[str, Any]) -> list[str]:
    versions = []
    for version_range in _list(affected.get("ranges")):
        if _dict(version_range).get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        for event in _list(version_range.get("events")):
            fixed = _dict(event).get("fixed")
            if isinstance(fixed, str) and fixed:
                versions.append(fixed)
    return versions


def _severity(entries: list[Any]) -> Severity | None:
    pairs = [
        (e["type"], e["score"])
        for e in entries
        if isinstance(e, dict)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("score"), str)
    ]
    found = cvss_severity(pairs)
    if found is not None:
        return found
    return next(
        (s for kind, score in pairs if kind == "Ubuntu" if (s := word_severity(score))), None
    )


def _database_severity(record: Mapping[str, Any]) -> Severity | None:
    return word_severity(_dict(record.get("database_specific")).get("severity"))


def _details_href(record: Mapping[str, Any], osv_id: str) -> str:
    for reference in _list(record.get("references")):
        reference = _dict(reference)
        if reference.get("type") == "ADVISORY" and isinstance(reference.get("url"), str):
            return str(reference["url"])
    url = _dict(record.get("database_specific")).get("url")
    if isinstance(url, str) and url:
        return url
    return OSV_PAGE.format(osv_id)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
