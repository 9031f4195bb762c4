"""A TCP listener on 127.0.0.1 (ephemeral port) that records every connection: the tests'
only network peer. Tests never contact any other address."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Listener:
    """Where hostile references point; ``connections`` must stay empty."""

    port: int
    connections: list[tuple[str, int]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settle(self) -> list[tuple[str, int]]:
        time.sleep(0.2)  # a connection made at the very end is still counted
        return list(self.connections)


@contextmanager
def listening() -> Iterator[Listener]:
    """Listen on 127.0.0.1; answers 404 to anything. Proves itself by seeing a connection of
    its own first (so "zero connections" later means zero)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))  # loopback only, ephemeral port
    server.listen(64)
    server.settimeout(0.05)
    found = Listener(server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, address = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            found.connections.append(address)
            with connection:
                connection.settimeout(0.5)
                try:
                    connection.recv(4096)
                    connection.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", found.port), timeout=2):
            pass
        deadline = time.monotonic() + 5
        while not found.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        if not found.connections:
            raise RuntimeError("the loopback listener did not see its own test connection")
        found.connections.clear()
        yield found
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
