"""`fallthrough migrate` between two SeaweedFS buckets: interrupted, resumed, and equal at the end."""

from __future__ import annotations

import concurrent.futures
import os
import random
import signal
import subprocess
import time

import boto3
import pytest

from edge_server import FALLTHROUGH

OBJECTS = 2000
TYPES = ["text/plain", "image/png", "application/json", "video/mp4"]


@pytest.fixture(scope="module")
def client(seaweedfs):  # noqa: ANN001, ANN201 - a boto3 client
    return boto3.client("s3", endpoint_url=seaweedfs.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=seaweedfs.env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=seaweedfs.env["AWS_SECRET_ACCESS_KEY"])


@pytest.fixture(scope="module")
def source(seaweedfs, client) -> dict[str, tuple[bytes, str]]:  # noqa: ANN001
    seaweedfs.create_bucket("migsrc")
    rng = random.Random(7)
    objects = {f"{rng.choice('abcd')}/{i:05d}.bin": (os.urandom(rng.randrange(0, 6000)), rng.choice(TYPES))
               for i in range(OBJECTS)}
    objects["big/one.bin"] = (os.urandom(3 * 1024 * 1024), "application/octet-stream")

    def put(item: tuple[str, tuple[bytes, str]]) -> None:
        key, (body, kind) = item
        client.put_object(Bucket="migsrc", Key=key, Body=body, ContentType=kind, Metadata={"n": key[-9:-4]})

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, objects.items()))
    return objects


def keys_and_sizes(client, bucket: str) -> dict[str, int]:  # noqa: ANN001
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
    return found


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FALLTHROUGH, "migrate", *args], capture_output=True, text=True, timeout=600)


def test_an_interrupted_migration_resumes_and_ends_equal(seaweedfs, client, source) -> None:  # noqa: ANN001
    seaweedfs.create_bucket("migdst")
    run = subprocess.Popen([FALLTHROUGH, "migrate", "s3://migsrc", "s3://migdst", "--concurrency", "4"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(keys_and_sizes(client, "migdst")) < 200:
        assert run.poll() is None and time.monotonic() < deadline, "the first run ended before it was interrupted"
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    assert run.wait(30) != 0
    before = len(keys_and_sizes(client, "migdst"))
    assert 200 <= before < len(source)

    resumed = migrate("s3://migsrc", "s3://migdst", "--concurrency", "16")
    assert resumed.returncode == 0, resumed.stderr
    copied = int(resumed.stdout.split(": ", 1)[1].split(" copied")[0])
    skipped = int(resumed.stdout.split("), ")[1].split(" already")[0])
    assert copied + skipped == len(source) and skipped >= before
    assert keys_and_sizes(client, "migdst") == {key: len(body) for key, (body, _) in source.items()}
    for key in random.Random(1).sample(sorted(source), 60) + ["big/one.bin"]:
        got = client.get_object(Bucket="migdst", Key=key)
        assert (got["Body"].read(), got["ContentType"]) == source[key]
        assert got["Metadata"] == {"n": key[-9:-4]}

    again = migrate("s3://migsrc", "s3://migdst")
    assert again.returncode == 0 and f"0 copied (0 bytes), {len(source)} already there, 0 failed" in again.stdout


def test_a_prefix_migrates_alone(seaweedfs, client, source) -> None:  # noqa: ANN001
    seaweedfs.create_bucket("migpart")
    done = migrate("s3://migsrc", "s3://migpart/copy", "--prefix", "b")
    assert done.returncode == 0, done.stderr
    wanted = {f"copy/{key}": len(body) for key, (body, _) in source.items() if key.startswith("b/")}
    assert keys_and_sizes(client, "migpart") == wanted


def test_bad_arguments_get_one_line(tmp_path) -> None:  # noqa: ANN001
    bad = migrate("ftp://x", "s3://y")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "ftp://x" in bad.stderr
    bad = migrate("s3://migsrc", f"file://{tmp_path}", "--concurrency", "0")
    assert bad.returncode != 0 and "--concurrency" in bad.stderr and "Traceback" not in bad.stderr
