"""The hostile origin itself: each fault puts on the wire exactly the bytes it promises.

Checked with a raw socket (what arrives, in what order, and how the connection ends) and,
where a well-formed exchange is the point, with http.client, so that tests of the edge
built on these faults can trust what the origin did.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from hostile_origin import BAD_CHUNK_SIZE_LINE, CHUNK_SIZE, Fault, HostileOrigin

BODY = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable enough
QUIET = 0.3  # seconds of silence that count as "nothing more arrives"


@pytest.fixture(scope="module")
def origin() -> Iterator[HostileOrigin]:
    with HostileOrigin() as server:
        yield server


class Raw:
    """A client socket that keeps what it received, to check the exact bytes."""

    def __init__(self, origin: HostileOrigin) -> None:
        self.sock = socket.create_connection((origin.host, origin.port), timeout=5)
        self.buf = b""

    def send(self, path: str, method: str = "GET", headers: dict[str, str] | None = None,
             body: bytes = b"") -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: origin"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def recv_until_end(self) -> tuple[bytes, BaseException | None]:
        """Everything until the origin ends the connection: the bytes, and the error (None for a FIN)."""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError as error:
                return self.take(), error
            if not data:
                return self.take(), None
            self.buf += data

    def recv_quiet(self, quiet: float = QUIET) -> bytes:
        """Everything until the origin stays silent for `quiet` seconds; fails on an end."""
        self.sock.settimeout(quiet)
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    return self.take()
                assert data, "the origin closed the connection"
                self.buf += data
        finally:
            self.sock.settimeout(5)

    def response(self) -> tuple[bytes, dict[str, str], bytes]:
        """One response framed by Content-Length (none: no body): head, fields, body."""
        head = self._until(b"\r\n\r\n")
        headers = self.fields(head)
        body = self.exactly(int(headers.get("content-length", "0")))
        return head, headers, body

    def head_only(self) -> tuple[bytes, dict[str, str]]:
        head = self._until(b"\r\n\r\n")
        return head, self.fields(head)

    @staticmethod
    def fields(head: bytes) -> dict[str, str]:
        lines = head.decode("latin-1").split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        assert data, "the origin closed the connection"
        self.buf += data

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._fill()
        end = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def exactly(self, n: int) -> bytes:
        """The next n bytes, waiting for them."""
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def take(self) -> bytes:
        out, self.buf = self.buf, b""
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(origin: HostileOrigin) -> Iterator[Raw]:
    client = Raw(origin)
    yield client
    client.close()


def split_head(data: bytes) -> tuple[bytes, dict[str, str], bytes]:
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", Raw.fields(head + b"\r\n\r\n"), rest


def decode_chunks(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """(declared size, data after the size line) for each chunk, and what could not be parsed."""
    chunks: list[tuple[int, bytes]] = []
    while b"\r\n" in data:
        line, _, rest = data.partition(b"\r\n")
        try:
            size = int(line, 16)
        except ValueError:
            return chunks, data
        chunks.append((size, rest[:size]))
        if len(rest) < size + 2:
            return chunks, b""
        data = rest[size + 2:]
    return chunks, data


def wait_for(condition: Callable[[], bool], limit: float = 3.0) -> bool:
    """Poll: the origin notices a client leaving on its own thread, a moment later."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# -- normal responses ----------------------------------------------------------


def test_normal_responses_keep_alive_for_three_requests(origin: HostileOrigin) -> None:
    origin.put("/n/a", BODY)
    before = origin.connections
    conn = http.client.HTTPConnection(origin.host, origin.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", "/n/a")
            reply = conn.getresponse()
            assert reply.status == 200
            assert reply.read() == BODY
            assert reply.getheader("content-length") == str(len(BODY))
            assert reply.getheader("cache-control") == "max-age=3600"
            assert reply.getheader("etag", "").startswith('"') and reply.getheader("last-modified")
    finally:
        conn.close()
    assert origin.connections == before + 1
    seen = origin.requests("/n/a")
    assert [r.index for r in seen] == [1, 2, 3] and len({r.connection for r in seen}) == 1
    assert seen[0].method == "GET" and seen[0].target == "/n/a" and seen[0].header("HOST")


def test_validators_ranges_head_and_404(origin: HostileOrigin) -> None:
    origin.put("/n/v", BODY, headers={"Cache-Control": "max-age=5", "X-Extra": "1"})
    conn = http.client.HTTPConnection(origin.host, origin.port, timeout=5)
    try:
        conn.request("GET", "/n/v")
        reply = conn.getresponse()
        etag = reply.getheader("etag")
        assert reply.read() == BODY and reply.getheader("cache-control") == "max-age=5"
        assert reply.getheader("x-extra") == "1"

        conn.request("GET", "/n/v", headers={"If-None-Match": f"W/{etag}"})
        reply = conn.getresponse()
        assert reply.status == 304 and reply.read() == b"" and reply.getheader("etag") == etag
        assert reply.getheader("content-length") is None

        for wanted, first, last in (("bytes=100-199", 100, 199), ("bytes=10000-", 10000, len(BODY) - 1),
                                    ("bytes=-40", len(BODY) - 40, len(BODY) - 1)):
            conn.request("GET", "/n/v", headers={"Range": wanted})
            reply = conn.getresponse()
            assert reply.status == 206 and reply.read() == BODY[first:last + 1]
            assert reply.getheader("content-range") == f"bytes {first}-{last}/{len(BODY)}"

        conn.request("GET", "/n/v", headers={"Range": "bytes=100-199", "If-Range": '"other"'})
        reply = conn.getresponse()
        assert reply.status == 200 and reply.read() == BODY

        conn.request("GET", "/n/v", headers={"Range": f"bytes={len(BODY)}-"})
        reply = conn.getresponse()
        assert reply.status == 416 and reply.read() == b""
        assert reply.getheader("content-range") == f"bytes */{len(BODY)}"

        conn.request("HEAD", "/n/v")
        reply = conn.getresponse()
        assert reply.status == 200 and reply.getheader("content-length") == str(len(BODY))
        assert reply.read() == b""

        conn.request("GET", "/n/missing")
        reply = conn.getresponse()
        assert reply.status == 404 and reply.read() == b"not found\n"
    finally:
        conn.close()


def test_request_bodies_are_read_and_connection_close_is_honoured(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/n/post", b"answer")
    raw.send("/n/post", "POST", body=b"x" * 5000)
    raw.sock.sendall(b"POST /n/post HTTP/1.1\r\nHost: o\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
    raw.send("/n/post", headers={"Connection": "close"})
    for _ in range(3):
        assert raw.response()[2] == b"answer"
    data, error = raw.recv_until_end()
    assert data == b"" and error is None
    assert [r.body for r in origin.requests("/n/post")] == [b"x" * 5000, b"abcde", b""]


def test_a_big_body_streams_whole(origin: HostileOrigin) -> None:
    big = bytes(range(256)) * (24 * 4096)  # 24 MiB
    origin.put("/n/big", big)
    conn = http.client.HTTPConnection(origin.host, origin.port, timeout=10)
    try:
        conn.request("GET", "/n/big")
        reply = conn.getresponse()
        assert reply.read() == big
    finally:
        conn.close()


def test_the_fault_queue_is_consumed_one_per_request(origin: HostileOrigin) -> None:
    origin.put("/q", BODY, faults=[Fault.fin_at(1000), None], fault=Fault.status(503))
    assert origin.faults_left("/q") == 1  # the None is no fault, the standing 503 is not queued
    replies = []
    for _ in range(4):
        client = Raw(origin)
        client.send("/q", headers={"Connection": "close"})
        replies.append(client.recv_until_end()[0])
        client.close()
    assert len(split_head(replies[0])[2]) == 1000
    assert split_head(replies[1])[2] == BODY
    assert replies[2].startswith(b"HTTP/1.1 503 ") and replies[3].startswith(b"HTTP/1.1 503 ")
    assert origin.count("/q") == 4 and origin.count("/q", "HEAD") == 0
    assert origin.faults_left("/q") == 0


def test_a_request_the_origin_never_read_leaves_its_fault_queued(origin: HostileOrigin) -> None:
    """A fault goes with the first request the origin reads whole: a client that gives up
    before that (an edge's timeout) leaves it to the next request, which faults_left shows."""
    origin.put("/q/unread", BODY, faults=[Fault.status(503)])
    client = Raw(origin)
    client.sock.sendall(b"GET /q/unread HTTP/1.1\r\nHost: origin\r\n")  # no end of the head
    client.close()
    client = Raw(origin)
    client.send("/q/unread")
    assert client.response()[0].startswith(b"HTTP/1.1 503 ")
    client.close()
    assert origin.faults_left("/q/unread") == 0 and origin.count("/q/unread") == 1


# -- the faults ----------------------------------------------------------------


def test_fin_at_sends_the_true_length_then_n_bytes_then_fin(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/fin", BODY, fault=Fault.fin_at(1000))
    raw.send("/f/fin")
    data, error = raw.recv_until_end()
    head, headers, body = split_head(data)
    assert error is None and headers["content-length"] == str(len(BODY)) and body == BODY[:1000]


def test_fin_at_cuts_a_206_too(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/fin206", BODY, fault=Fault.fin_at(10))
    raw.send("/f/fin206", headers={"Range": "bytes=500-999"})
    data, error = raw.recv_until_end()
    head, headers, body = split_head(data)
    assert head.startswith(b"HTTP/1.1 206 ") and headers["content-length"] == "500"
    assert error is None and body == BODY[500:510]


def test_rst_at_resets_after_n_bytes(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/rst", BODY, fault=Fault.rst_at(3000))
    raw.send("/f/rst")
    time.sleep(0.1)  # let the reset arrive behind the bytes: they must still be readable
    data, error = raw.recv_until_end()
    head, headers, body = split_head(data)
    assert isinstance(error, ConnectionResetError)
    assert headers["content-length"] == str(len(BODY)) and body == BODY[:3000]


def test_short_sends_n_bytes_then_holds_the_connection_silent(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/short", BODY, fault=Fault.short(100))
    raw.send("/f/short")
    head, headers = raw.head_only()
    assert headers["content-length"] == str(len(BODY))
    assert raw.recv_quiet() == BODY[:100]  # and the connection is still open
    served_on = origin.requests("/f/short")[-1].connection
    assert origin.is_open(served_on)
    raw.close()
    assert wait_for(lambda: not origin.is_open(served_on))


def test_short_withholds_the_last_byte_of_an_answer_smaller_than_n(origin: HostileOrigin, raw: Raw) -> None:
    """A 206 shorter than n is still cut: a whole answer on a connection that then hangs
    would stall the next request on it (another key's) instead."""
    origin.put("/f/short-range", BODY, faults=[Fault.short(5000)])
    raw.send("/f/short-range", headers={"Range": "bytes=100-199"})
    head, headers = raw.head_only()
    assert head.startswith(b"HTTP/1.1 206 ") and headers["content-length"] == "100"
    assert raw.recv_quiet() == BODY[100:199]  # one byte short, and the connection still open


def test_surplus_garbage_in_the_same_write_and_the_connection_kept(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/garbage", BODY, faults=[Fault.surplus_garbage(b"GARBAGE!")])
    raw.send("/f/garbage")
    head, headers, body = split_head(raw.recv_quiet())
    assert headers["content-length"] == str(len(BODY)) and body == BODY + b"GARBAGE!"
    raw.send("/f/garbage")
    assert raw.response()[2] == BODY


def test_surplus_garbage_after_a_delay(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/garbage-late", BODY, faults=[Fault.surplus_garbage(b"LATE", delay=0.3)])
    raw.send("/f/garbage-late")
    assert raw.response()[2] == BODY
    raw.sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        raw.sock.recv(100)  # the response ends where it says: nothing behind it yet
    raw.sock.setblocking(True)
    raw.sock.settimeout(5)
    assert raw.exactly(4) == b"LATE"
    raw.send("/f/garbage-late")  # the connection is kept after the garbage
    assert raw.response()[2] == BODY


def test_smuggle_sends_two_responses_and_answers_the_next_request(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/smuggle", BODY, faults=[Fault.smuggle(b"POISON")])
    raw.send("/f/smuggle")
    data = raw.recv_quiet()
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
    head, headers, rest = split_head(data)
    assert rest[:len(BODY)] == BODY
    head2, headers2, body2 = split_head(rest[len(BODY):])
    assert headers2["content-length"] == "6" and body2 == b"POISON"
    raw.send("/f/smuggle")
    assert raw.response()[2] == BODY
    assert origin.count("/f/smuggle") == 2


def test_chunked_mid_closes_inside_a_chunk(origin: HostileOrigin, raw: Raw) -> None:
    body = bytes(range(256)) * 160  # 40960 bytes: three chunks
    n = CHUNK_SIZE + 1000
    origin.put("/f/chunked-mid", body, fault=Fault.chunked_mid(n))
    raw.send("/f/chunked-mid")
    data, error = raw.recv_until_end()
    head, headers, rest = split_head(data)
    assert error is None and headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    chunks, _ = decode_chunks(rest)
    assert b"".join(part for _, part in chunks) == body[:n]
    assert chunks[-1][0] > len(chunks[-1][1])  # the last size line promised more
    assert not rest.endswith(b"0\r\n\r\n")


def test_chunked_mid_at_the_very_end_still_breaks_a_chunk(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/chunked-end", BODY, fault=Fault.chunked_mid(len(BODY)))
    raw.send("/f/chunked-end")
    chunks, _ = decode_chunks(split_head(raw.recv_until_end()[0])[2])
    assert b"".join(part for _, part in chunks) == BODY and chunks[-1][0] > len(chunks[-1][1])


def test_chunked_no_last_sends_every_chunk_but_the_last(origin: HostileOrigin, raw: Raw) -> None:
    body = bytes(range(256)) * 100  # 25600 bytes: two chunks
    origin.put("/f/no-last", body, fault=Fault.chunked_no_last())
    raw.send("/f/no-last")
    data, error = raw.recv_until_end()
    chunks, left = decode_chunks(split_head(data)[2])
    assert error is None and left == b""
    assert [size for size, _ in chunks] == [CHUNK_SIZE, len(body) - CHUNK_SIZE]
    assert b"".join(part for _, part in chunks) == body


def test_chunked_bad_size_sends_the_malformed_line_then_nothing(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/bad-size", BODY, fault=Fault.chunked_bad_size(1000))
    raw.send("/f/bad-size")
    raw.head_only()
    data = raw.recv_quiet()  # and the connection is still open
    assert data == b"3e8\r\n" + BODY[:1000] + b"\r\n" + BAD_CHUNK_SIZE_LINE


def test_stall_before_headers_ends_with_the_client(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/stall", BODY, faults=[Fault.stall_before_headers(30)])
    raw.send("/f/stall")
    assert raw.recv_quiet() == b""
    served_on = origin.requests("/f/stall")[-1].connection
    assert origin.is_open(served_on)
    raw.close()
    assert wait_for(lambda: not origin.is_open(served_on), 1.0)


def test_stall_before_headers_then_the_answer(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/slow", BODY, faults=[Fault.stall_before_headers(0.4)])
    started = time.monotonic()
    raw.send("/f/slow")
    assert raw.response()[2] == BODY
    assert time.monotonic() - started >= 0.35


def test_stall_after_headers_sends_the_head_then_waits(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/stall-after", BODY, faults=[Fault.stall_after_headers(0.5)])
    raw.send("/f/stall-after")
    raw.head_only()
    assert raw.recv_quiet() == b""
    assert raw.exactly(len(BODY)) == BODY


def test_status_answers_an_error_and_keeps_the_connection(origin: HostileOrigin) -> None:
    origin.put("/f/503", BODY, faults=[Fault.status(503), Fault.status(500)])
    conn = http.client.HTTPConnection(origin.host, origin.port, timeout=5)
    try:
        statuses = []
        for _ in range(3):
            conn.request("GET", "/f/503")
            reply = conn.getresponse()
            statuses.append((reply.status, reply.read()))
    finally:
        conn.close()
    assert statuses == [(503, b"origin error 503\n"), (500, b"origin error 500\n"), (200, BODY)]
    assert len({r.connection for r in origin.requests("/f/503")}) == 1


def test_reset_before_headers_sends_nothing(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/reset", BODY, fault=Fault.reset_before_headers())
    raw.send("/f/reset")
    data, error = raw.recv_until_end()
    assert data == b"" and isinstance(error, ConnectionResetError)
    assert origin.count("/f/reset") == 1


def test_body_on_empty_for_head_304_and_204(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/empty", BODY, fault=Fault.body_on_empty())
    origin.put("/f/204", b"", status=204, fault=Fault.body_on_empty(b"NOT EMPTY"))
    raw.send("/f/empty", "HEAD")
    head, headers, body = raw.response()  # the HEAD's Content-Length, then that many bytes anyway
    assert headers["content-length"] == str(len(BODY)) and body == BODY
    raw.send("/f/empty", headers={"If-None-Match": headers["etag"]})
    head, headers, body = raw.response()
    assert head.startswith(b"HTTP/1.1 304 ") and headers["content-length"] == str(len(BODY)) and body == BODY
    raw.send("/f/204")
    head, headers, body = raw.response()
    assert head.startswith(b"HTTP/1.1 204 ") and headers["content-length"] == "9" and body == b"NOT EMPTY"
    raw.send("/f/empty")  # a 200: nothing to add, and the connection is still there
    assert raw.response()[2] == BODY


def test_no_length_close_is_a_whole_body_delimited_by_close(origin: HostileOrigin) -> None:
    origin.put("/f/no-length", BODY, fault=Fault.no_length_close())
    conn = http.client.HTTPConnection(origin.host, origin.port, timeout=5)
    try:
        conn.request("GET", "/f/no-length")
        reply = conn.getresponse()
        assert reply.getheader("content-length") is None and reply.getheader("transfer-encoding") is None
        assert reply.read() == BODY
    finally:
        conn.close()


def test_no_length_close_short_looks_whole(origin: HostileOrigin, raw: Raw) -> None:
    origin.put("/f/no-length-short", BODY, fault=Fault.no_length_close_short(700))
    raw.send("/f/no-length-short")
    data, error = raw.recv_until_end()
    head, headers, body = split_head(data)
    assert error is None and "content-length" not in headers and headers["connection"] == "close"
    assert body == BODY[:700]


def test_stop_cuts_stalled_connections() -> None:
    server = HostileOrigin().start()
    server.put("/s", BODY, fault=Fault.short(10))
    client = Raw(server)
    client.send("/s")
    client.head_only()
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    data, error = client.recv_until_end()
    assert data == BODY[:10]
    client.close()


def test_a_fault_kind_must_exist() -> None:
    with pytest.raises(ValueError):
        Fault("nonsense")  # type: ignore[arg-type]
