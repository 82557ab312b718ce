"""A TCP proxy that delays and "loses" traffic, for the slow-link tests (no netem here).

Every chunk is delivered *delay* seconds after it arrived, in order; a lost
chunk (probability *loss*, from a seeded generator) arrives three delays
later still, as TCP's retransmission would make it: a byte stream cannot
drop bytes, only deliver them late.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections import deque


class SlowLink:
    """Forward 127.0.0.1:<port> to *target_port* with a delay and losses."""

    def __init__(self, target_port: int, *, delay: float, loss: float, seed: int = 9) -> None:
        self.target_port = target_port
        self.delay = delay
        self.loss = loss
        self._random = random.Random(seed)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._sockets: list[socket.socket] = [self._listener]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                queue: deque[tuple[float, bytes]] = deque()
                ready = threading.Condition()
                threading.Thread(
                    target=self._read, args=(source, queue, ready), daemon=True
                ).start()
                threading.Thread(target=self._write, args=(sink, queue, ready), daemon=True).start()

    def _read(
        self, source: socket.socket, queue: deque[tuple[float, bytes]], ready: threading.Condition
    ) -> None:
        due = 0.0
        while True:
            try:
                chunk = source.recv(65536)
            except OSError:
                chunk = b""
            with ready:
                if chunk:
                    lost = self._random.random() < self.loss
                    extra = 3 * self.delay if lost else 0.0
                    due = max(due, time.monotonic() + self.delay + extra)
                queue.append((due, chunk))
                ready.notify()
            if not chunk:
                return

    def _write(
        self, sink: socket.socket, queue: deque[tuple[float, bytes]], ready: threading.Condition
    ) -> None:
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, chunk = queue.popleft()
            time.sleep(max(due - time.monotonic(), 0.0))
            if not chunk:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            try:
                sink.sendall(chunk)
            except OSError:
                return

    def close(self) -> None:
        """Stop accepting and close every socket."""
        self._closed.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
