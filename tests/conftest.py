"""Fixtures for every test: no actor may outlive the test that started it."""

from __future__ import annotations

from collections.abc import Iterator

import pykka
import pytest

from tests.helpers import ManualClock


@pytest.fixture(autouse=True)
def no_leftover_actors() -> Iterator[None]:
    """Fail a test that leaves actors running (after stopping them, so others are not hurt)."""
    yield
    leftovers = pykka.ActorRegistry.get_all()
    if leftovers:
        pykka.ActorRegistry.stop_all()
        pytest.fail(f"the test left {len(leftovers)} actor(s) running: {leftovers}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
