"""`fallthrough migrate` between SeaweedFS buckets: interrupted, resumed, and equal at the end;
between two servers that want different keys; into a local directory."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from edge_server import FALLTHROUGH
from seaweed import DEFAULT_KEY, DEFAULT_SECRET, SeaweedFS, start_seaweedfs

OBJECTS = 2000
TYPES = ["text/plain", "image/png", "application/json", "video/mp4"]
PART = 6 * 1024 * 1024  # not the 5 MiB parts a streamed upload makes by default
OTHER_KEY, OTHER_SECRET = "other-provider", "other-provider-secret"


@pytest.fixture(autouse=True)
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The AWS shared files the commands read: under tmp_path (absent until a test writes them), never the home's."""
    credentials, config = tmp_path / "aws-credentials", tmp_path / "aws-config"
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    return credentials, config


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A second provider: its own server, which accepts its own keys only."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs-other"), identities={OTHER_KEY: OTHER_SECRET})
    try:
        yield server
    finally:
        server.stop()


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
    objects["big/multi.bin"] = (os.urandom(PART + 1024 * 1024), "application/octet-stream")
    put_multipart(client, "migsrc", "big/multi.bin", *objects["big/multi.bin"])
    return objects


def put_multipart(client, bucket: str, key: str, body: bytes, kind: str) -> None:  # noqa: ANN001
    """An object uploaded in parts, as big files are: its ETag ends in -N, not an MD5 of the bytes."""
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=kind, Metadata={"n": key[-9:-4]})
    parts = []
    for number, start in enumerate(range(0, len(body), PART), 1):
        sent = client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number,
                                  Body=body[start:start + PART])
        parts.append({"ETag": sent["ETag"], "PartNumber": number})
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": parts})


def keys_and_sizes(client, bucket: str) -> dict[str, int]:  # noqa: ANN001
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
    return found


def migrate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FALLTHROUGH, "migrate", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def interrupted(client, bucket: str, after: int) -> subprocess.Popen[str]:  # noqa: ANN001
    """A migration of migsrc into bucket, sent SIGINT once the bucket holds `after` objects."""
    run = subprocess.Popen([FALLTHROUGH, "migrate", "s3://migsrc", f"s3://{bucket}", "--concurrency", "4"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(keys_and_sizes(client, bucket)) < after:
        assert run.poll() is None and time.monotonic() < deadline, "the first run ended before it was interrupted"
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    return run


def test_an_interrupted_migration_resumes_and_ends_equal(seaweedfs, client, source) -> None:  # noqa: ANN001
    seaweedfs.create_bucket("migdst")
    run = interrupted(client, "migdst", 200)
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


def test_folder_markers_are_copied_as_they_are(seaweedfs, client, tmp_path) -> None:  # noqa: ANN001
    """Keys ending in / (the folder markers consoles make), which the object-store client
    would list and write without their slash: copied as themselves, or refused aloud."""
    seaweedfs.create_bucket("migmarks")
    seaweedfs.create_bucket("migmarks-copy")
    held = {"docs/": b"", "docs/a.txt": b"a", "empty/": b"", "docs/sub/": b""}
    # Folders with their markers and what is in them, copied by workers side by side.
    held |= {key: body for i in range(8) for key, body in ((f"d{i}/", b""), (f"d{i}/e/", b""), (f"d{i}/f", b"f"))}
    for key, body in held.items():
        client.put_object(Bucket="migmarks", Key=key, Body=body)
    done = migrate("s3://migmarks", "s3://migmarks-copy")
    assert done.returncode == 0 and f"{len(held)} copied" in done.stdout, done.stdout + done.stderr
    assert keys_and_sizes(client, "migmarks-copy") == {k: len(v) for k, v in held.items()}
    again = migrate("s3://migmarks", "s3://migmarks-copy")
    assert "0 copied" in again.stdout and f"{len(held)} already there" in again.stdout, again.stdout
    out = tmp_path / "dir"
    migrate("s3://migmarks", f"file://{out}")
    assert (out / "docs" / "a.txt").read_bytes() == b"a" and (out / "empty").is_dir() and (out / "docs/sub").is_dir()


def test_a_key_the_store_client_cannot_name_is_refused_unless_an_empty_marker() -> None:
    """A marker holding bytes, or a key with an empty segment, would be written under
    another key by the store client: refused before anything is written."""
    from fallthrough.migrate import Bucket, _copy_marker

    nowhere = Bucket(store=None, is_s3=True)
    for key, size in (("full/", 9), ("a//b", 0), ("./x", 0)):
        with pytest.raises(ValueError, match="only be copied as an empty folder marker"):
            asyncio.run(_copy_marker(nowhere, key, size))


def test_bad_arguments_get_one_line(tmp_path) -> None:  # noqa: ANN001
    bad = migrate("ftp://x", "s3://y")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "ftp://x" in bad.stderr
    bad = migrate("s3://migsrc", f"file://{tmp_path}", "--concurrency", "0")
    assert bad.returncode != 0 and "--concurrency" in bad.stderr and "Traceback" not in bad.stderr


def test_an_interrupt_says_how_far_it_got(seaweedfs, client, source) -> None:  # noqa: ANN001
    seaweedfs.create_bucket("migint")
    run = interrupted(client, "migint", 100)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 130, stderr
    said = re.fullmatch(r"interrupted: (\d+) of (\d+) objects copied \(\d+\.\d MB\); "
                        r"run the same command again to copy the rest\n", stderr)
    assert said is not None, stderr
    assert 0 < int(said[1]) <= len(keys_and_sizes(client, "migint")) and int(said[2]) == len(source)


def assert_arrived(source_client, target_client, bucket: str, objects: dict[str, tuple[bytes, str]]) -> None:  # noqa: ANN001
    """Every object in bucket with its bytes, type, metadata and the source's ETag: an object
    the source took in one PUT went in one PUT, a multipart one in parts of the source's size."""
    assert keys_and_sizes(target_client, bucket) == {key: len(body) for key, (body, _) in objects.items()}

    def check(key: str) -> None:
        got = target_client.get_object(Bucket=bucket, Key=key)
        assert (got["Body"].read(), got["ContentType"]) == objects[key], key
        assert got["Metadata"] == {"n": key[-9:-4]}, key
        source_etag = source_client.head_object(Bucket="migsrc", Key=key)["ETag"]
        target_etag = target_client.head_object(Bucket=bucket, Key=key)["ETag"]
        assert target_etag == source_etag, key  # a multipart one's too: sent in the source's parts

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(check, sorted(objects)))


def test_the_other_provider_wants_its_own_keys(seaweedfs, other, source) -> None:  # noqa: ANN001
    other.create_bucket("refused")
    for key, secret in ((DEFAULT_KEY, DEFAULT_SECRET), (OTHER_KEY, "not-the-secret")):
        with pytest.raises(ClientError):
            other.client(key, secret).list_objects_v2(Bucket="refused")
    # The source's keys (the plain AWS_* variables) do not open the target either.
    refused = migrate("s3://migsrc", "s3://refused", "--target-endpoint", other.endpoint)
    assert refused.returncode == 1 and refused.stderr.startswith("fallthrough: error: cannot list")
    assert refused.stderr.count("\n") == 1


def test_a_target_profile_copies_to_another_provider(client, other, source, aws_files, tmp_path) -> None:  # noqa: ANN001
    credentials, config = aws_files
    credentials.write_text(f"[first]\naws_access_key_id = x\naws_secret_access_key = y\n\n"
                           f"[other]\naws_access_key_id = {OTHER_KEY}\naws_secret_access_key = {OTHER_SECRET}\n")
    config.write_text(f"[profile other]\nregion = us-east-1\nendpoint_url = {other.endpoint}\n")
    other.create_bucket("viaprofile")
    spool = tmp_path / "spool"
    spool.mkdir()
    done = migrate("s3://migsrc", "s3://viaprofile", "--target-profile", "other", "--spool", str(spool),
                   "--concurrency", "16")
    assert done.returncode == 0, done.stderr
    assert f"{len(source)} copied" in done.stdout
    assert "-" in client.head_object(Bucket="migsrc", Key="big/multi.bin")["ETag"]
    assert_arrived(client, other.client(), "viaprofile", source)
    assert list(spool.iterdir()) == []


def test_target_variables_copy_to_another_provider(client, other, source) -> None:  # noqa: ANN001
    other.create_bucket("viaenv")
    env = {"TARGET_AWS_ACCESS_KEY_ID": OTHER_KEY, "TARGET_AWS_SECRET_ACCESS_KEY": OTHER_SECRET,
           "TARGET_AWS_REGION": "us-east-1", "TARGET_AWS_ENDPOINT_URL": other.endpoint}
    done = migrate("s3://migsrc", "s3://viaenv", "--concurrency", "16", env=env)
    assert done.returncode == 0, done.stderr
    assert_arrived(client, other.client(), "viaenv", source)


def test_a_directory_target_gets_every_object(source, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    done = migrate("s3://migsrc", f"file://{out}", "--concurrency", "16")
    assert done.returncode == 0, done.stderr
    files = {str(path.relative_to(out)): path.read_bytes() for path in out.rglob("*") if path.is_file()}
    assert files == {key: body for key, (body, _) in source.items()}


def test_a_missing_profile_a_broken_file_or_a_foreign_token_is_one_line(aws_files, tmp_path) -> None:  # noqa: ANN001
    credentials, config = aws_files
    credentials.write_text("[someone]\naws_access_key_id = x\naws_secret_access_key = y\n")
    for args, said in ((["--target-profile", "nobody"], "'nobody'"),
                       (["--spool", str(tmp_path / "absent")], "--spool")):
        bad = migrate("s3://migsrc", "s3://migdst", *args)
        assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and said in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
    foreign = migrate("s3://migsrc", "s3://migdst", "--target-profile", "someone", env={"AWS_SESSION_TOKEN": "t"})
    assert foreign.returncode == 1 and foreign.stderr.count("\n") == 1 and "AWS_SESSION_TOKEN" in foreign.stderr
    config.write_text("[profile broken\nregion = x\n")
    bad = migrate("s3://migsrc", "s3://migdst", "--source-profile", "someone")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and str(config) in bad.stderr, bad.stderr
