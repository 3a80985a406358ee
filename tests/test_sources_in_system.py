"""Sources inside the running system: several per platform, read once per pass, failing loudly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from patches.actors import PatchesSystem
from patches.config import Config, load_config
from patches.core.errors import UnknownSession
from patches.core.results import ReadState
from patches.model import Vulnerability
from tests.fake_clair import ClairData, FakeClair, load_captured
from tests.helpers import config_from, drain, drain_all, interleaved, shared_data, write_jsonl

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data() -> ClairData:
    return load_captured(shared_data("clair-v2.1.0"))


@pytest.fixture
def fake(data: ClairData) -> Iterator[FakeClair]:
    with FakeClair(data) as server:
        yield server


def clair_and_jsonl(tmp_path: Path, url: str, records: list[Vulnerability]) -> Config:
    write_jsonl(tmp_path / "local.jsonl", records)
    return config_from(
        tmp_path,
        f"""
        [sessions]
        max_active = 8
        [window]
        max_records = 64
        batch_size = 20
        [[sources]]
        kind = "clair"
        url = "{url}"
        platforms = ["debian:11", "debian:12"]
        request_backoff_seconds = 0
        retries = 1
        [[sources]]
        kind = "jsonl"
        path = "local.jsonl"
        """,
    )


def test_a_platform_gets_every_sources_records_in_configuration_order(
    tmp_path: Path, fake: FakeClair
) -> None:
    local = interleaved(("debian:12", "alpine:3.19"), 30)
    config = clair_and_jsonl(tmp_path, fake.url, local)
    with PatchesSystem.start(config) as system:
        assert system.platforms() == ("alpine:3.19", "debian:11", "debian:12")
        session = system.open_session("debian:12")
        names = drain(system, session.id, v1=True).names
    from_local = [r.name for r in local if r.affected_platform == "debian:12"]
    assert names == ["CVE-2023-4911", "CVE-2024-6387", *from_local]


def test_each_record_is_fetched_once_per_pass_whatever_the_number_of_scanners(
    tmp_path: Path, fake: FakeClair
) -> None:
    config = clair_and_jsonl(tmp_path, fake.url, [])
    with PatchesSystem.start(config) as system:
        sessions = [system.open_session("debian:11").id for _ in range(6)]
        results = drain_all(system, sessions)
        status = system.status()
    assert all(len(r.names) == 1724 for r in results)
    assert all(r.names == results[0].names for r in results)
    assert fake.requests["detail"] == 1724  # one upstream read per record, for six scanners
    clair_counters = next(f for f in status.feeds if f.kind == "clair")
    assert clair_counters.reads == {"debian:11": 1724}
    answered = sum(n for kind, n in fake.requests.items() if kind != "gzipped")
    assert clair_counters.requests == answered  # namespaces, list pages, details
    assert status.registry.windows.passes == {"debian:11": 1}


def test_a_source_failing_past_its_retries_fails_its_sessions_explicitly(
    tmp_path: Path, fake: FakeClair
) -> None:
    config = clair_and_jsonl(tmp_path, fake.url, [])
    with PatchesSystem.start(config) as system:
        fake.fail_next(10**6)
        session = system.open_session("debian:11")
        result = drain(system, session.id, v1=False)
    assert result.last.state is ReadState.FAILED
    assert "Clair answered 500" in (result.last.error or "")
    assert result.names == []


def test_a_slow_source_does_not_stall_other_platforms(tmp_path: Path, data: ClairData) -> None:
    local = interleaved(("alpine:3.19",), 500)
    with FakeClair(data, latency=0.05) as slow:
        config = clair_and_jsonl(tmp_path, slow.url, local)
        with PatchesSystem.start(config) as system:
            clair_session = system.open_session("debian:11").id
            local_session = system.open_session("alpine:3.19").id
            finished = threading.Event()

            def read_the_slow_platform() -> None:
                try:
                    drain(system, clair_session, v1=True)
                    finished.set()
                except UnknownSession:
                    pass  # closed by the test once it has seen enough

            reader = threading.Thread(target=read_the_slow_platform)
            reader.start()
            assert len(drain(system, local_session, v1=False).names) == 500
            assert not finished.is_set()  # the slow platform is still on its way
            system.close_session(clair_session)
            reader.join(30)
            assert not reader.is_alive()


@pytest.mark.parametrize("example", ["clair.example.toml", "osv.example.toml"])
def test_the_example_configurations_serve(example: str, fake: FakeClair) -> None:
    config = load_config(REPO / "conf" / example, env={})
    (source,) = config.sources
    if source.kind == "clair":
        options = replace(source.options, url=fake.url)
        platform = "debian:12"
    else:
        options = replace(source.options, path=shared_data("osv/Go.zip"))
        platform = "go"
    config = replace(config, sources=(replace(source, options=options),))
    with PatchesSystem.start(config) as system:
        result = drain(system, system.open_session(platform).id, v1=True)
    assert result.last.state is ReadState.DONE
    assert result.last.total == len(result.names) > 0
