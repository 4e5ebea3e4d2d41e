"""The latency proxy the fleet's benches and tests put between a node and Redis: it must
hand every byte on unchanged and in order, add the delay it says and no more, and cut
connections when told, or the figures taken through it mean nothing."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from latency_proxy import LatencyProxy
from redis_server import RedisServer


class EchoServer:
    """Sends back whatever it receives, until the client closes its side."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(1 << 16):
                    conn.sendall(data)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def connect(proxy: LatencyProxy) -> socket.socket:
    sock = socket.create_connection((proxy.host, proxy.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        data = sock.recv(min(1 << 16, n - got))
        assert data, f"the connection ended after {got} of {n} bytes"
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def test_a_mebibyte_goes_through_both_ways_intact(echo: EchoServer) -> None:
    payload = os.urandom(1 << 20)
    with LatencyProxy("127.0.0.1", echo.port, 0.005) as proxy, connect(proxy) as sock:
        # Sent from another thread: the echo comes back while we still send.
        sender = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(socket.SHUT_WR)))
        sender.start()
        received = recv_exactly(sock, len(payload))
        sender.join(10)
        assert received == payload
        assert sock.recv(1) == b""  # the half-close went through and came back


def test_the_round_trip_costs_twice_the_delay(echo: EchoServer) -> None:
    delay = 0.05
    with LatencyProxy("127.0.0.1", echo.port, delay) as proxy, connect(proxy) as sock:
        trips = []
        for i in range(5):
            started = time.perf_counter()
            sock.sendall(b"ping %d" % i)
            assert recv_exactly(sock, len(b"ping %d" % i)) == b"ping %d" % i
            trips.append(time.perf_counter() - started)
        assert min(trips) >= 2 * delay
        assert max(trips) < 2 * delay + 1.0


def test_a_stream_is_delayed_not_slowed(echo: EchoServer) -> None:
    """Pieces are scheduled, not slept one by one: 200 small writes take about one delay
    each way in all, not 200 of them."""
    delay = 0.05
    with LatencyProxy("127.0.0.1", echo.port, delay) as proxy, connect(proxy) as sock:
        started = time.perf_counter()
        for i in range(200):
            sock.sendall(b"%04d" % i)
            time.sleep(0.001)  # separate arrivals at the proxy
        received = recv_exactly(sock, 800)
        took = time.perf_counter() - started
        assert received == b"".join(b"%04d" % i for i in range(200))  # and in order
        assert 2 * delay <= took < 2 * delay + 1.0


def test_set_delay_changes_the_next_round_trip(echo: EchoServer) -> None:
    with LatencyProxy("127.0.0.1", echo.port, 0.0) as proxy, connect(proxy) as sock:
        proxy.set_delay(0.1)
        started = time.perf_counter()
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        assert time.perf_counter() - started >= 0.2


def test_drop_connections_ends_every_connection_and_new_ones_get_through(echo: EchoServer) -> None:
    with LatencyProxy("127.0.0.1", echo.port, 0.001) as proxy:
        first, second = connect(proxy), connect(proxy)
        try:
            for sock in (first, second):
                sock.sendall(b"hello")
                assert recv_exactly(sock, 5) == b"hello"
            assert proxy.drop_connections() == 2
            for sock in (first, second):
                try:
                    ended = sock.recv(1) == b""
                except ConnectionResetError:
                    ended = True
                assert ended
        finally:
            first.close()
            second.close()
        with connect(proxy) as again:
            again.sendall(b"back")
            assert recv_exactly(again, 4) == b"back"


def test_a_target_that_refuses_ends_the_client_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with LatencyProxy("127.0.0.1", port, 0.001) as proxy, connect(proxy) as sock:
        try:
            assert sock.recv(1) == b""
        except ConnectionResetError:
            pass


def test_stop_is_idempotent_and_frees_the_port(echo: EchoServer) -> None:
    proxy = LatencyProxy("127.0.0.1", echo.port, 0.001).start()
    sock = connect(proxy)
    proxy.stop()
    proxy.stop()
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection((proxy.host, proxy.port), timeout=2).close()


def test_redis_through_the_proxy(tmp_path: Path) -> None:
    delay = 0.01
    with RedisServer(tmp_path / "redis") as server, LatencyProxy("127.0.0.1", server.port, delay) as proxy:
        client = redis.Redis(host=proxy.host, port=proxy.port, socket_timeout=5)
        try:
            assert client.ping()
            started = time.perf_counter()
            assert client.ping()
            assert time.perf_counter() - started >= 2 * delay
            assert client.set("fallthrough:proxy", b"through")
            assert client.get("fallthrough:proxy") == b"through"
            # What was set through the proxy is in the real server.
            direct = redis.Redis(port=server.port, socket_timeout=5)
            assert direct.get("fallthrough:proxy") == b"through"
            direct.close()
            # Cut, the client dials again (by itself or on the next command, as its retry
            # settings say) and gets through.
            assert proxy.drop_connections() == 1
            try:
                value = client.get("fallthrough:proxy")
            except redis.ConnectionError:
                value = client.get("fallthrough:proxy")
            assert value == b"through"
        finally:
            client.close()
