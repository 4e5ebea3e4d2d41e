"""A request path that is the client's mistake gets a 4xx on every kind of mount, never
a 5xx that would blame the origin (through the real server: file://, s3:// and http)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_server import EdgeServer
from origin_server import OriginServer

LONG_NAME = "x" * 300 + ".txt"  # longer than a file name may be (255 bytes)
# Each case: the path under the mount, and what a file:// or s3:// mount answers.
CASES = [
    ("//a.txt", 400),
    ("/sub//b.txt", 400),
    ("/a.txt%2F", 400),  # a folder's name: no object
    ("/sub/", 400),
    ("/./a.txt", 400),
    ("/../a.txt", 400),
    ("/%2e%2e/a.txt", 400),
    ("/sub/%2E/b.txt", 400),
    ("/a%00.txt", 400),
    ("/sub\\b.txt", 400),
    ("/sub%5Cb.txt", 400),
    ("/" + LONG_NAME, 404),
    ("/sub/" + LONG_NAME, 404),
    ("/" + "d/" * 2500 + "a.txt", 404),  # longer than a path may be (4096 bytes), each name short
    ("/" + "%41" * 3000, 404),  # 9000 bytes on the wire, 3000 once decoded
    ("/" + "y" * 9000, 414),
]


def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """The path's bytes exactly as given (no client library to tidy or refuse them)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"a")
    (root / "sub" / "b.txt").write_bytes(b"b")
    return root


@pytest.fixture
def served(tmp_path: Path, site: Path, seaweedfs) -> Iterator[EdgeServer]:  # noqa: ANN001
    import obstore
    from obstore.store import S3Store

    seaweedfs.create_bucket("mistakes")
    store = S3Store("mistakes", endpoint=seaweedfs.env["AWS_ENDPOINT_URL"], region="us-east-1",
                    access_key_id=seaweedfs.env["AWS_ACCESS_KEY_ID"],
                    secret_access_key=seaweedfs.env["AWS_SECRET_ACCESS_KEY"], client_options={"allow_http": True})
    obstore.put(store, "site/a.txt", b"a")
    obstore.put(store, "site/sub/b.txt", b"b")
    with OriginServer() as origin:
        origin.put("/a.txt", b"a")
        mounts = (f'[[mount]]\nurl_prefix = "/f"\norigin = "file://{site}"\n'
                  f'[[mount]]\nurl_prefix = "/s"\norigin = "s3://mistakes/site"\n'
                  f'[[mount]]\nurl_prefix = "/h"\norigin = "{origin.url}"\n')
        with EdgeServer(tmp_path, mounts, workers=1) as server:
            yield server


@pytest.mark.parametrize("prefix", ["/f", "/s"])
def test_a_bad_path_on_a_directory_or_a_bucket_is_the_clients_mistake(served: EdgeServer, prefix: str) -> None:
    assert raw_get(served.port, prefix + "/a.txt") == (200, b"a")
    assert raw_get(served.port, prefix + "/sub/b.txt") == (200, b"b")
    answers = {path: raw_get(served.port, prefix + path) for path, _ in CASES}
    wrong = {path[:40]: answers[path] for path, status in CASES if answers[path][0] != status}
    assert not wrong
    # Asked twice: the first answer was not stored as an origin's failure either.
    assert raw_get(served.port, prefix + "//a.txt")[0] == 400
    assert "Traceback" not in served.log.read_text()


def test_a_key_longer_than_a_bucket_holds_names_nothing(served: EdgeServer) -> None:
    assert raw_get(served.port, "/s/" + "k" * 1100)[0] == 404
    assert raw_get(served.port, "/s/" + "/".join(["k" * 200] * 6))[0] == 404


def test_an_http_origin_never_turns_a_bad_path_into_a_5xx(served: EdgeServer) -> None:
    assert raw_get(served.port, "/h/a.txt") == (200, b"a")
    for path, _ in CASES:
        status, _ = raw_get(served.port, "/h" + path)
        assert 400 <= status < 500, (path[:40], status)
