"""Severities from CVSS vectors and upstream severity words, on the scanners' 0..6 scale.

CVSS base scores map by the CVSS specification's own bands (the same for v2, v3.x and v4.0):

==============  =================
Score           Severity
==============  =================
0.0             1 Negligible
0.1 - 3.9       2 Low
4.0 - 6.9       3 Medium
7.0 - 8.9       4 High
9.0 - 10.0      6 Critical
==============  =================

5 (Urgent) is what Clair calls "Critical"; no CVSS band maps to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

from patches.model import Severity

__all__ = ["cvss_severity", "score_severity", "word_severity"]

log = logging.getLogger(__name__)

#: Severity words of upstream databases: GitHub's (LOW, MODERATE, HIGH, CRITICAL), Ubuntu's
#: priorities (negligible .. critical), and CVSS's band names.
_WORDS = {
    "none": Severity.NEGLIGIBLE,
    "negligible": Severity.NEGLIGIBLE,
    "low": Severity.LOW,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "critical": Severity.CRITICAL,
}

#: Preference among vector types: the newest CVSS version a record gives.
_VECTOR_TYPES = ("CVSS_V4", "CVSS_V3", "CVSS_V2")


def score_severity(score: float) -> Severity:
    """A CVSS base score's band."""
    if score <= 0:
        return Severity.NEGLIGIBLE
    if score < 4.0:
        return Severity.LOW
    if score < 7.0:
        return Severity.MEDIUM
    if score < 9.0:
        return Severity.HIGH
    return Severity.CRITICAL


def cvss_severity(entries: Iterable[tuple[str, str]]) -> Severity | None:
    """The severity of the newest valid CVSS vector among ``(type, vector)`` pairs, if any."""
    vectors = {kind: vector for kind, vector in entries if kind in _VECTOR_TYPES}
    for kind in _VECTOR_TYPES:
        vector = vectors.get(kind)
        if vector is None:
            continue
        try:
            if kind == "CVSS_V4":
                score = float(CVSS4(vector).base_score)
            elif kind == "CVSS_V3":
                score = float(CVSS3(vector).base_score)
            else:
                score = float(CVSS2(vector).base_score)
        except (CVSSError, AttributeError, ValueError, KeyError) as e:
            log.debug("ignoring invalid %s vector %r: %s", kind, vector, e)
            continue
        return score_severity(score)
    return None


def word_severity(word: object) -> Severity | None:
    """The severity a word names (``"MODERATE"``, ``"high"``...), if it names one."""
    return _WORDS.get(word.strip().lower()) if isinstance(word, str) else None
