"""What only a real HTTP server shows: chunked bodies, raw bytes, oversized requests."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from patches.actors import PatchesSystem
from patches.api import create_app
from patches.http_server import HttpServer
from tests.helpers import config_from


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HttpServer]:
    config = config_from(tmp_path, '[server]\nport = 0\n[[sources]]\nkind = "demo"\nrecords = 50\n')
    with PatchesSystem.start(config) as system:
        http_server = HttpServer(create_app(system), config.server)
        with http_server.running():
            yield http_server


def raw(server: HttpServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; return the status, headers and body of the reply."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


def test_a_chunked_body_too_large_is_413_json(server: HttpServer) -> None:
    body = b'{"platform": "' + b"x" * 20_000 + b'"}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:9000], body[9000:]))
    status, _, reply = raw(
        server,
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n",
    )
    assert (status, orjson.loads(reply)["code"]) == (413, "payload_too_large")


def test_a_chunked_body_within_limits_opens_a_session(server: HttpServer) -> None:
    body = b'{"platform": "debian:12"}'
    status, _, reply = raw(
        server,
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
    )
    assert (status, orjson.loads(reply)["state"]) == (201, "active")


@pytest.mark.parametrize(
    "target",
    [b"/?session=%ff%fe", b"/?platform=%c3%28", b"/v1/sessions/%ff", b"/?session=\xff\xfe"],
)
def test_bytes_that_are_not_utf8_get_json_errors(server: HttpServer, target: bytes) -> None:
    status, headers, reply = raw(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert 400 <= status < 500
    assert headers["Content-Type"] == "application/json"
    assert set(orjson.loads(reply)) >= {"error", "code"}


def test_what_waitress_refuses_itself_is_json_too(server: HttpServer) -> None:
    status, headers, reply = raw(
        server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    )
    assert (status, headers["Content-Type"]) == (431, "application/json")
    assert orjson.loads(reply)["code"] == "request_header_fields_too_large"
    status, headers, reply = raw(server, b"GARBAGE\r\n\r\n")
    assert (status, headers["Content-Type"]) == (400, "application/json")
    assert orjson.loads(reply)["code"] == "bad_request"
