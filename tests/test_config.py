"""Configuration: defaults, overrides, and errors that name the file, the key and the problem."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from patches.config import ConfigError, default_config_text, load_config, parse_size
from patches.config.model import Config
from tests.helpers import config_from

REPO = Path(__file__).resolve().parent.parent


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as error:
        config_from(tmp_path, text, env)
    return error.value.problems


def test_the_embedded_default_serves_the_demo_source() -> None:
    config = load_config(env={})
    assert (config.server.host, config.server.port) == ("127.0.0.1", 9001)
    assert [s.kind for s in config.sources] == ["demo"]
    assert config.server.threads >= 8  # waitress's default of 4 collapses under load


def test_the_embedded_default_documents_every_key_with_its_default() -> None:
    documented = tomllib.loads(default_config_text())
    defaults = Config()
    for section in ("server", "sessions", "window", "memory", "state", "logging"):
        keys = set(getattr(defaults, section).__dataclass_fields__)
        assert set(documented[section]) == keys, section


def test_every_shipped_configuration_is_valid() -> None:
    shipped = sorted((REPO / "conf").glob("*.toml"))
    assert shipped
    for path in shipped:
        load_config(path, env={})


def test_a_file_overrides_key_by_key_and_its_sources_replace_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "feed.jsonl").write_text("")
    config = config_from(
        tmp_path,
        """
        [window]
        max_records = 1000
        max_bytes = "2MiB"

        [[sources]]
        kind = "jsonl"
        path = "feed.jsonl"
        """,
    )
    assert config.window.max_records == 1000
    assert config.window.max_bytes == 2 * 2**20
    assert config.window.batch_size == 500  # untouched keys keep their defaults
    (source,) = config.sources
    assert source.kind == "jsonl"
    assert source.name == "jsonl-1"
    assert source.options.path == tmp_path / "feed.jsonl"  # relative to the file


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        "[server]\nport = 9100\n",
        env={"PATCHES_SERVER_PORT": "9200", "PATCHES_WINDOW_MAX_BYTES": "32MiB", "HOME": "/x"},
    )
    assert config.server.port == 9200
    assert config.window.max_bytes == 32 * 2**20


def test_every_problem_is_reported_at_once_naming_file_and_key(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        [window]
        max_recods = 5
        batch_size = 0
        max_bytes = "12 parsecs"

        [servr]
        port = 1

        [[sources]]
        kind = "jsonl"

        [[sources]]
        kind = "ftp"
        """,
        env={"PATCHES_SESSIONS_MAX_ACTIVE": "many"},
    )
    path = tmp_path / "patches.toml"
    assert sorted(problems) == sorted(
        [
            f"{path}: [servr]: unknown section (did you mean [server]?)",
            "environment variable PATCHES_SESSIONS_MAX_ACTIVE ([sessions] max_active): "
            "expected an integer, got 'many'",
            f"{path}: [window] max_recods: unknown key (did you mean 'max_records'?)",
            f'{path}: [window] max_bytes: expected a size such as 65536 or "64MiB", '
            "got '12 parsecs'",
            f"{path}: [window] batch_size: value must be at least 1, got 0",
            f"{path}: [[sources]] #1 (jsonl) path: missing required key",
            f"{path}: [[sources]] #2 kind: "
            "expected one of 'clair', 'demo', 'jsonl', 'osv', got 'ftp'",
        ]
    )


def test_values_that_contradict_each_other_are_refused(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        [window]
        max_records = 10
        batch_size = 20
        [server]
        retry_after_seconds = 30
        [sessions]
        timeout_seconds = 10
        """,
    )
    assert any("batch_size: must not exceed max_records (10)" in p for p in problems)
    assert any("retry_after_seconds: must be shorter than [sessions] timeout_seconds" in p
               for p in problems)  # fmt: skip


def test_source_names_are_unique(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        [[sources]]
        kind = "demo"
        name = "a"
        [[sources]]
        kind = "demo"
        name = "a"
        """,
    )
    assert problems == [f"{tmp_path / 'patches.toml'}: [[sources]] #2 (demo) name: 'a' is the "
                        "name of another source"]  # fmt: skip


def test_unknown_environment_variables_are_errors(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "", env={"PATCHES_COLOUR": "blue"})
    assert problems[0].startswith("environment variable PATCHES_COLOUR: names no configuration key")


def test_invalid_toml_names_the_file_and_position(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "[server\nport = 1\n")
    assert problems[0].startswith(f"{tmp_path / 'patches.toml'}: not valid TOML")
    assert "line 1" in problems[0]


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot read the configuration"):
        load_config(tmp_path / "absent.toml", env={})


@pytest.mark.parametrize(
    ("text", "size"),
    [(65536, 65536), ("64MiB", 64 * 2**20), ("1.5 GB", 1_500_000_000), ("512k", 512 * 1024)],
)
def test_sizes_accept_units(text: int | str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "12 parsecs", True, 1.5, "-1MiB"])
def test_sizes_refuse_nonsense(text: object) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)
