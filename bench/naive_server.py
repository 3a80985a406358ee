"""The baseline for the memory benchmark: a naive server that loads a platform's records.

It speaks the v1 API's session and cursor endpoints (enough for the benchmark's scanners) on the
same stack as Patches (Falcon on waitress, records validated and encoded once), but holds every
record of the platform in memory, as the servers that run out of memory do.

    python -m bench.naive_server --source feed.jsonl --port 0 --batch-size 1000
"""

from __future__ import annotations

import argparse
import secrets
import threading

import falcon
import waitress

from patches.model import Vulnerability


class NaiveServer:
    def __init__(self, source: str, batch_size: int) -> None:
        self.source = source
        self.batch_size = batch_size
        self.lock = threading.Lock()
        self.records: dict[str, list[bytes]] = {}
        self.sessions: dict[str, str] = {}

    def load(self, platform: str) -> list[bytes]:
        with self.lock:
            if platform not in self.records:
                with open(self.source, "rb") as f:
                    self.records[platform] = [
                        r.encode()
                        for line in f
                        if (r := Vulnerability.decode(line)).affected_platform == platform
                    ]
            return self.records[platform]

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        platform = req.get_media()["platform"]
        self.load(platform)
        session = secrets.token_hex(16)
        self.sessions[session] = platform
        resp.status = falcon.HTTP_201
        resp.media = {"id": session, "platform": platform, "state": "active"}

    def on_get_batch(self, req: falcon.Request, resp: falcon.Response, session_id: str) -> None:
        records = self.records[self.sessions[session_id]]
        cursor = req.get_param_as_int("cursor", default=0)
        batch = records[cursor : cursor + self.batch_size]
        done = b"true" if not batch else b"false"
        resp.data = b'{"vulnerabilities":[%b],"cursor":%d,"nextCursor":%d,"done":%b}' % (
            b",".join(batch), cursor, cursor + len(batch), done,
        )  # fmt: skip

    def on_get_health(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    naive = NaiveServer(args.source, args.batch_size)
    app = falcon.App()
    app.add_route("/v1/sessions", naive)
    app.add_route("/v1/sessions/{session_id}/vulnerabilities", naive, suffix="batch")
    app.add_route("/v1/health", naive, suffix="health")
    server = waitress.create_server(
        app, host="127.0.0.1", port=args.port, threads=args.threads, connection_limit=2000,
        asyncore_use_poll=True,
    )  # fmt: skip
    print(f"listening on http://127.0.0.1:{server.effective_port}", flush=True)
    server.run()


if __name__ == "__main__":
    main()
