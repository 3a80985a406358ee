"""``patches-server`` as operators run it: a real process, stopped by a signal."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import urllib3

from patches.config import default_config_text


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patches", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_serves_until_sigterm_then_stops_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "patches.toml"
    config.write_text('[server]\nport = 0\n[[sources]]\nkind = "demo"\nrecords = 30\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "patches", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:
            if match := re.search(r"listening on (http://\S+)", line):
                url = match.group(1)
                break
        assert url is not None, "the server never said where it listens"
        http = urllib3.PoolManager(retries=False, timeout=10)
        opened = http.request("GET", f"{url}/", fields={"platform": "debian:12"})
        assert opened.status == 200
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    assert "received SIGTERM" in rest
    assert "HTTP server stopped; stopping actors" in rest
    assert "bug:" not in rest


def test_a_bad_configuration_stops_start_up_naming_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[window]\nmax_records = 0\n")
    result = run("--config", str(config))
    assert result.returncode == 2
    assert f"{config}: [window] max_records: value must be at least 1, got 0" in result.stderr


def test_a_source_that_cannot_start_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "patches.toml"
    config.write_text('[[sources]]\nkind = "jsonl"\npath = "missing.jsonl"\n')
    result = run("--config", str(config))
    assert result.returncode == 1
    assert "cannot start: source 'jsonl-1' cannot list its platforms" in result.stderr


def test_prints_the_embedded_default_configuration() -> None:
    result = run("--print-default-config")
    assert result.returncode == 0
    assert result.stdout == default_config_text()
    assert tomllib.loads(result.stdout)["server"]["port"] == 9001


def test_a_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "patches.toml"
        config.write_text(f"[server]\nport = {port}\n")
        result = run("--config", str(config))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
