"""Platform names from upstream names: Clair namespaces and OSV ecosystems.

Scanners ask for platforms by Patches' names: lower case, ``<distribution>:<release>`` for
distributions (``debian:12``, ``alpine:3.19``, ``ubuntu:22.04``) and the ecosystem alone for
language ecosystems (``go``, ``pypi``). Each source kind maps its upstream names with the rules
below; a source's ``platforms`` table overrides them name by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["clair_platform", "osv_platform"]

_ALPINE_RELEASE = re.compile(r"^v(?=\d)")


def clair_platform(namespace: str, overrides: Mapping[str, str] | None = None) -> str:
    """A Clair namespace's platform: lower case, Alpine's ``v`` dropped (``alpine:v3.11`` ->
    ``alpine:3.11``); ``debian:11``, ``ubuntu:18.04``, ``centos:7`` stay as they are.
    """
    if overrides and namespace in overrides:
        return overrides[namespace]
    distribution, sep, release = namespace.lower().partition(":")
    if distribution == "alpine":
        release = _ALPINE_RELEASE.sub("", release)
    return f"{distribution}{sep}{release}"


def osv_platform(ecosystem: str, overrides: Mapping[str, str] | None = None) -> str:
    """An OSV ecosystem's platform.

    - ``Debian:11`` -> ``debian:11``; ``Alpine:v3.19`` -> ``alpine:3.19``;
    - ``Ubuntu:22.04:LTS`` -> ``ubuntu:22.04`` (the LTS mark dropped);
      ``Ubuntu:Pro:18.04:LTS`` -> ``ubuntu-pro:18.04`` (Pro packages differ from the release's);
    - ``Go`` -> ``go``, ``PyPI`` -> ``pypi``, ``crates.io`` -> ``crates.io``: lower case;
    - any other ``Name:suffix`` -> ``name:suffix`` in lower case, spaces as hyphens
      (``Red Hat:rhel_aus:8.4::appstream`` -> ``red-hat:rhel_aus:8.4::appstream``).
    """
    if overrides and ecosystem in overrides:
        return overrides[ecosystem]
    name, sep, suffix = ecosystem.partition(":")
    name = name.strip().lower().replace(" ", "-")
    suffix = suffix.strip()
    if name == "ubuntu":
        parts = [p for p in suffix.split(":") if p and p.upper() != "LTS"]
        if parts and parts[0].lower() == "pro":
            name, parts = "ubuntu-pro", parts[1:]
        suffix = ":".join(parts)
        sep = ":" if suffix else ""
    elif name == "alpine":
        suffix = _ALPINE_RELEASE.sub("", suffix)
    return f"{name}{sep}{suffix.lower()}"
