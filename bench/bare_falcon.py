"""The framework's ceiling: a bare Falcon app on waitress serving one pre-built reply.

It answers every GET with the same bytes (a batch as Patches would send it), under the same
waitress settings as Patches: what Patches would reach if actors, sessions and windows cost nothing.

    python -m bench.bare_falcon --body batch.json --port 0 --threads 8
"""

from __future__ import annotations

import argparse
from pathlib import Path

import falcon
import waitress

from patches.config import ServerConfig


class Batch:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self.body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    app = falcon.App()
    app.add_sink(Batch(args.body.read_bytes()).on_get, "/")
    server = waitress.create_server(
        app, host="127.0.0.1", port=args.port, threads=args.threads,
        connection_limit=ServerConfig().connection_limit,
        asyncore_use_poll=True, ident="bare",
    )  # fmt: skip
    print(f"listening on http://127.0.0.1:{server.effective_port}", flush=True)
    server.run()


if __name__ == "__main__":
    main()
