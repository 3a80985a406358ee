"""An HTTP proxy on loopback that loses replies: the server answered, the scanner never hears it.

Each request is forwarded to the server and its whole reply read back; then, for a seeded share of
replies, the proxy closes the scanner's connection instead of passing the reply on. It speaks just
enough HTTP/1.1 for the project's API: requests and replies with ``Content-Length``.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["LossyProxy"]


class LossyProxy:
    def __init__(self, upstream: tuple[str, int], loss: float, seed: int = 7) -> None:
        self.upstream = upstream
        self.loss = loss
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.forwarded = 0
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: list[socket.socket] = []

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    @contextmanager
    def running(self) -> Iterator[LossyProxy]:
        acceptor = threading.Thread(target=self._accept, daemon=True)
        acceptor.start()
        try:
            yield self
        finally:
            self._stopped.set()
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # close() alone leaves accept() blocked
            self._listener.close()
            acceptor.join(5)
            for client in self._clients:  # wake the threads blocked reading kept-alive sockets
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
            for thread in self._threads:
                thread.join(5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._clients.append(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.upstream) as server:
            for sock in (client, server):  # no Nagle: small writes would wait for delayed ACKs
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client_reader = client.makefile("rb")
            server_reader = server.makefile("rb")
            while not self._stopped.is_set():
                request = _read_message(client_reader)
                if request is None:
                    return
                server.sendall(request)
                reply = _read_message(server_reader)
                if reply is None:
                    return
                with self._lock:
                    lose = self._random.random() < self.loss
                    if lose:
                        self.dropped += 1
                    else:
                        self.forwarded += 1
                if lose:  # the scanner's connection closes with no reply, at once
                    client.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(reply)


def _read_message(reader: socket.SocketIO | object) -> bytes | None:
    """One HTTP message (head and Content-Length body), or None when the peer has gone."""
    lines = []
    while True:
        line = reader.readline()  # type: ignore[attr-defined]
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    head = b"".join(lines)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = reader.read(length) if length else b""  # type: ignore[attr-defined]
    return head + body
