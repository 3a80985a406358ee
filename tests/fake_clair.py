"""A fake Clair v2.1.0 (API v1) over real HTTP on loopback, built from a real server's responses.

It serves the namespaces and vulnerabilities captured from a real Clair v2.1.0 (the complete walk of
``debian:11`` and the single responses of ``../shared/data/clair-v2.1.0``) with that server's
headers, body encoding (Go's, ending in a newline), error messages and edge cases: ``null`` lists,
the ``limit=0`` trap, no ``NextPage`` on the last page, page tokens that expire, plain-text 404s for
unknown routes, gzip. It hands out its own page tokens (the recorded ones expired long ago).

Faults can be injected: latency on every request, the next requests answering 500 or dropping the
connection, tokens expiring.

Run it alone (for benchmarks or by hand)::

    python -m tests.fake_clair --port 6060 --latency 0.02
"""

from __future__ import annotations

import argparse
import gzip
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ClairData", "FakeClair", "load_captured"]


@dataclass
class ClairData:
    """Namespaces in the server's order, each with its vulnerabilities in insertion order."""

    namespaces: dict[str, list[dict[str, Any]]]

    def __post_init__(self) -> None:
        self._by_name = {
            (ns, v["Name"]): v for ns, listed in self.namespaces.items() for v in listed
        }

    def find(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._by_name.get((namespace, name))

    def summary(self, vulnerability: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in vulnerability.items() if k != "FixedIn"}


def load_captured(folder: Path) -> ClairData:
    """The captured data: debian:11 complete, debian:12 and alpine:v3.11 in part, the rest empty."""
    debian11 = []
    with gzip.open(folder / "debian-11.recording.jsonl.gz", "rt") as recording:
        for line in recording:
            request = json.loads(line)
            if "?fixedIn" in request["path"]:
                debian11.append(request["body"]["Vulnerability"])

    def detail(name: str) -> dict[str, Any]:
        body: dict[str, Any] = json.loads((folder / name).read_text())["Vulnerability"]
        return body

    posted = json.loads((folder / "post_created.http").read_text().split("\n\n", 1)[1])
    glibc = posted["Vulnerability"]
    for fix in glibc["FixedIn"]:
        fix.pop("VersionFormat", None)  # a POST echo; the GET detail does not carry it
    listed = json.loads((folder / "namespaces.json").read_text())["Namespaces"]
    namespaces: dict[str, list[dict[str, Any]]] = {n["Name"]: [] for n in listed}
    namespaces["debian:11"] = debian11
    namespaces["debian:12"] = [glibc, detail("detail_debian12_metadata_unfixed.json")]
    namespaces["alpine:v3.11"] = [detail("detail_alpine311_fixedIn.json")]
    namespaces["debian:9"] = [detail("detail_debian9_multi_fixedIn.json")]
    return ClairData(namespaces)


@dataclass
class _Faults:
    latency: float = 0.0
    fail_next: int = 0
    fail_status: int = 500
    drop_next: int = 0
    garbage_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> str | None:
        with self.lock:
            if self.drop_next > 0:
                self.drop_next -= 1
                return "drop"
            if self.garbage_next > 0:
                self.garbage_next -= 1
                return "garbage"
            if self.fail_next > 0:
                self.fail_next -= 1
                return "fail"
        return None


class FakeClair:
    """The fake server; a context manager that serves on a free loopback port."""

    def __init__(
        self, data: ClairData, *, latency: float = 0.0, token_ttl: float = 3600.0, port: int = 0
    ) -> None:
        self.data = data
        self.faults = _Faults(latency=latency)
        self.token_ttl = token_ttl
        self.requests: Counter[str] = Counter()
        #: Requests being answered now, and the most ever at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._tokens: dict[str, tuple[str, int, float, int]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> FakeClair:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    # -- faults ----------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next ``count`` requests answer ``status`` (with Clair's JSON error)."""
        with self.faults.lock:
            self.faults.fail_next, self.faults.fail_status = count, status

    def drop_next(self, count: int) -> None:
        """The next ``count`` requests get their connection closed without an answer."""
        with self.faults.lock:
            self.faults.drop_next = count

    def garbage_next(self, count: int) -> None:
        """The next ``count`` requests answer 200 with a body that is not JSON."""
        with self.faults.lock:
            self.faults.garbage_next = count

    def expire_tokens(self) -> None:
        """Every page token handed out so far is now expired."""
        with self._lock:
            self._generation += 1

    # -- tokens ----------------------------------------------------------------------------------

    def _token(self, namespace: str, offset: int) -> str:
        token = "gAAAAAB" + secrets.token_urlsafe(64)
        with self._lock:
            self._tokens[token] = (namespace, offset, time.monotonic(), self._generation)
        return token

    def _offset(self, namespace: str, token: str) -> int | None:
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                return None
            ns, offset, issued, generation = found
            if ns != namespace or generation != self._generation:
                return None
            if time.monotonic() - issued > self.token_ttl:
                return None
            return offset


def _go_json(value: object) -> bytes:
    """JSON as Go's encoding/json writes it: compact, HTML characters escaped, a final newline."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode() + b"\n"


def _error(message: str) -> bytes:
    return _go_json({"Error": {"Message": message}})


def _handler_for(fake: FakeClair) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Clair
        server_version = "clair"
        sys_version = ""
        # One write per response, as Go's server does: headers and body in separate small
        # segments would meet the client's delayed ACK and stall each request by 40 ms.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with fake._lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self._answer()
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def _answer(self) -> None:
            if fake.faults.latency:
                time.sleep(fake.faults.latency)
            fault = fake.faults.take()
            if fault == "drop":
                fake.requests["dropped"] += 1
                self.close_connection = True
                self.connection.close()
                return None
            if fault == "fail":
                fake.requests["failed"] += 1
                self._json(fake.faults.fail_status, _error("injected failure"))
                return None
            if fault == "garbage":
                fake.requests["garbage"] += 1
                self._json(200, b"<html>\x00\xff not json")
                return None
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/")]
            query = parse_qs(url.query, keep_blank_values=True)
            if parts[:3] == ["", "v1", "namespaces"]:
                if len(parts) == 3:
                    return self._namespaces()
                if len(parts) == 5 and parts[4] == "vulnerabilities":
                    return self._list(parts[3], query)
                if len(parts) == 6 and parts[4] == "vulnerabilities":
                    return self._detail(parts[3], parts[5], "fixedIn" in query)
            fake.requests["unknown route"] += 1
            body = b"404 page not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None

        def _namespaces(self) -> None:
            fake.requests["namespaces"] += 1
            names = [{"Name": n} for n in fake.data.namespaces]
            self._json(200, _go_json({"Namespaces": names}))

        def _list(self, namespace: str, query: dict[str, list[str]]) -> None:
            fake.requests["list"] += 1
            vulnerabilities = fake.data.namespaces.get(namespace)
            if "limit" not in query:
                return self._json(400, _error("must provide limit query parameter"))
            raw = query["limit"][0]
            try:
                limit = int(raw)
            except ValueError:
                message = f'invalid limit format: strconv.Atoi: parsing "{raw}": invalid syntax'
                return self._json(400, _error(message))
            if limit < 0:
                return self._json(400, _error("limit value should not be less than zero"))
            offset = 0
            if "page" in query:
                found = fake._offset(namespace, query["page"][0])
                if found is None:
                    message = "invalid page format: invalid or expired pagination token"
                    return self._json(400, _error(message))
                offset = found
            if vulnerabilities is None:
                return self._json(404, _error("the resource cannot be found"))
            page = vulnerabilities[offset : offset + limit]
            body: dict[str, Any] = {"Vulnerabilities": [fake.data.summary(v) for v in page] or None}
            if limit == 0 or offset + limit < len(vulnerabilities):
                body["NextPage"] = fake._token(namespace, offset + limit)
            return self._json(200, _go_json(body))

        def _detail(self, namespace: str, name: str, fixed_in: bool) -> None:
            fake.requests["detail"] += 1
            found = fake.data.find(namespace, name)
            if found is None:
                return self._json(404, _error("the resource cannot be found"))
            body = found if fixed_in else fake.data.summary(found)
            return self._json(200, _go_json({"Vulnerability": body}))

        def _json(self, status: int, body: bytes) -> None:
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
            if gzipped:
                fake.requests["gzipped"] += 1
                body = gzip.compress(body)
            self.send_response(status)
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            return formatdate(timestamp, usegmt=True)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Clair v2 API built from real responses.")
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "clair-v2.1.0"
    parser.add_argument("--data", type=Path, default=default, help="the captured responses")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    args = parser.parse_args()
    fake = FakeClair(load_captured(args.data), latency=args.latency, port=args.port)
    print(fake.url, flush=True)
    fake.serve_forever()


if __name__ == "__main__":
    main()
