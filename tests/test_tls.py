"""HTTPS and HTTP/2 on the edge listener, with a certificate the test makes."""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_server import free_port
from origin_server import OriginServer

FALLTHROUGH = str(Path(sys.executable).with_name("fallthrough"))
BIG = os.urandom(3 * 1024 * 1024)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("curl") is None,
                                reason="needs the openssl and curl commands")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_edge(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = make_certificate(tmp_path)
    port = free_port()
    with OriginServer() as origin:
        origin.put("/a", b"hello over tls", headers={"Cache-Control": "max-age=600"})
        origin.put("/big", BIG, headers={"Cache-Control": "max-age=600"})
        config = tmp_path / "tls.toml"
        config.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = 2\ntls_cert = "{cert}"\n'
                          f'tls_key = "{key}"\n[store]\npath = "{tmp_path / "store"}"\n'
                          f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n')
        log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - the child keeps it
        process = subprocess.Popen([FALLTHROUGH, "serve", "--config", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            context = ssl.create_default_context(cafile=str(cert))
            deadline = time.monotonic() + 30
            while True:
                try:
                    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
                    conn.request("GET", "/_fallthrough/health")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                    time.sleep(0.1)
            yield f"https://127.0.0.1:{port}", cert
        finally:
            os.killpg(process.pid, 15)
            process.wait(15)


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=30)


def test_https_and_http2_are_served_with_the_configured_certificate(tls_edge: tuple[str, Path]) -> None:
    url, cert = tls_edge
    for version in ("--http1.1", "--http2"):
        result = curl(version, "--cacert", str(cert), "-w", "%{http_version} %{http_code}", "-o", "-", url + "/o/a")
        assert result.returncode == 0, result.stderr
        body, status = result.stdout[:len(b"hello over tls")], result.stdout[len(b"hello over tls"):]
        assert body == b"hello over tls"
        assert status.decode().split() == ["1.1" if version == "--http1.1" else "2", "200"]
    big = curl("--http2", "--cacert", str(cert), url + "/o/big")  # a miss, then a hit, over HTTP/2
    again = curl("--http2", "--cacert", str(cert), "-H", "Range: bytes=1000-1999", url + "/o/big")
    assert big.stdout == BIG and again.stdout == BIG[1000:2000]
    untrusted = curl("--http2", url + "/o/a")  # a client that does not know the certificate refuses it
    assert untrusted.returncode != 0


def test_a_missing_or_half_tls_setting_stops_the_start_in_one_line(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    for body, words in ((f'tls_cert = "{cert}"\n', "give both"),
                        (f'tls_cert = "{tmp_path / "none.pem"}"\ntls_key = "{key}"\n', "cannot read"),
                        (f'tls_cert = "{tmp_path / "tls.toml"}"\ntls_key = "{key}"\n', "not a PEM file")):
        config = tmp_path / "tls.toml"
        config.write_text(f"[server]\n{body}")
        result = subprocess.run([FALLTHROUGH, "check", "--config", str(config)], capture_output=True, timeout=60)
        err = result.stderr.decode()
        assert result.returncode == 1 and words in err and len(err.strip().splitlines()) == 1, err
