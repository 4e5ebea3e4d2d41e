"""Stock S3 clients, unmodified, against `fallthrough serve`'s S3 API on a real SeaweedFS
bucket: the AWS CLI (from PyPI), rclone and s3cmd (Debian's).

test_s3_api.py shows, with boto3, that each operation answers as S3 does. These show that
the tools people actually point at a bucket work end to end: each makes its own choice of
operations, headers, checksums, multipart sizes and listing parameters, and any of them
that the API mishandles is an incompatibility a user would meet. So each client is given
nothing but its own standard configuration (environment variables, a config file written
under the test's tmp_path, with HOME there too so no user's config is read or written),
and each test checks what a user would: the exit status, the bytes, the listing, and the
origin bucket holding what was uploaded.

The tests that need a server-side copy (CopyObject, and UploadPartCopy for a large
object) are kept in their own functions, named `..._server_side_copy`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from test_s3_api import BODY, S3Edge, s3_edge  # noqa: F401 - the module's edge: its own instance here

AWS = str(Path(sys.executable).with_name("aws"))
TIMEOUT = 180  # seconds a client command may take
BIG = 20 * 1024 * 1024  # over the AWS CLI's 8 MiB multipart threshold
AWS_CONFIG = "[default]\ns3 =\n    addressing_style = path\n"

# Objects put straight into the origin under the read-only "assets" mount, to be listed.
LISTED = {
    "clients/one.txt": b"one",
    "clients/sub/two.txt": b"two two",
    "clients/sub/deeper/three.txt": b"three three three",
    "clients/ünï cødé.txt": b"unicode",
}
# A small tree to upload and download, a key with spaces and non-ASCII letters in it.
TREE = {
    "a.txt": b"alpha\n" * 100,
    "sub/b.bin": os.urandom(70_000),
    "sub/deeper/c.txt": b"gamma",
    "ünï cødé.txt": "ünï cødé".encode(),
}


@dataclass
class Tool:
    """One client's command line, run to completion. It passes when it exits 0 without
    having retried a request; a failure shows what the client said and the end of the
    server's log."""

    argv: list[str]
    env: dict[str, str]
    edge: S3Edge
    retried: str | None = None  # what the client says when it retries a request it cannot be told not to

    def __call__(self, *args: str | Path, timeout: float = TIMEOUT) -> str:
        """What the command printed on stdout, once it has exited 0."""
        return self.ok(*args, timeout=timeout).stdout

    def ok(self, *args: str | Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, self.explain(done)
        assert self.retried is None or self.retried not in done.stderr, self.explain(done)
        return done

    def run(self, *args: str | Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        command = [*self.argv, *map(str, args)]
        try:
            return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{shlex.join(command)} ran past {timeout}s\nstderr:\n{exc.stderr!r}") from None

    def explain(self, done: subprocess.CompletedProcess[str]) -> str:
        log = self.edge.server.log.read_text(errors="replace").splitlines()[-25:]
        return (f"{shlex.join(done.args)} exited {done.returncode}\n--- stdout:\n{done.stdout[-3000:]}"
                f"\n--- stderr:\n{done.stderr[-6000:]}\n--- server.log (end):\n" + "\n".join(log))


def clean_env(home: Path, **settings: str) -> dict[str, str]:
    """This process's environment less the session's AWS_* (they point at SeaweedFS) and any
    client's own settings, with HOME in the test's directory, and the client's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_", "S3CMD_"))}
    home.mkdir(exist_ok=True)
    return {**env, "HOME": str(home), **settings}


def binary(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"Debian's {name} is needed (make test installs it)"
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def aws(s3_edge: S3Edge, home: Path) -> Tool:  # noqa: F811
    config = home / "aws-config"
    env = clean_env(home, AWS_ACCESS_KEY_ID="edgekey", AWS_SECRET_ACCESS_KEY="edgesecret",
                    AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(config),
                    AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
                    AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1")  # a failure shows, not retried away
    config.write_text(AWS_CONFIG)
    return Tool([AWS, "--endpoint-url", s3_edge.endpoint], env, s3_edge)


@pytest.fixture
def rclone(s3_edge: S3Edge, home: Path) -> Tool:  # noqa: F811
    config = home / "rclone.conf"
    env = clean_env(home)
    config.write_text("[edge]\ntype = s3\nprovider = Other\nenv_auth = false\naccess_key_id = edgekey\n"
                      f"secret_access_key = edgesecret\nregion = us-east-1\nendpoint = {s3_edge.endpoint}\n"
                      "force_path_style = true\n")
    return Tool([binary("rclone"), "--config", str(config), "--retries", "1", "--low-level-retries", "1"], env,
                s3_edge)


@pytest.fixture
def s3cmd(s3_edge: S3Edge, home: Path) -> Tool:  # noqa: F811
    config = home / "s3cmd.cfg"
    env = clean_env(home)
    host = f"127.0.0.1:{s3_edge.port}"
    config.write_text(f"[default]\naccess_key = edgekey\nsecret_key = edgesecret\nhost_base = {host}\n"
                      f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n"
                      "bucket_location = us-east-1\n")
    return Tool([binary("s3cmd"), "--config", str(config)], env, s3_edge, retried="Retrying failed request")


@pytest.fixture(scope="module")
def listed(s3_edge: S3Edge) -> Iterator[dict[str, bytes]]:  # noqa: F811
    """LISTED, in the origin under the "assets" mount (keys as the edge's bucket names them);
    taken away after, as test_s3_api.py lists that mount's top level exactly."""
    for key, body in LISTED.items():
        s3_edge.origin.put_object(Bucket="s3origin", Key=f"site/{key}", Body=body)
    yield LISTED
    for key in LISTED:
        s3_edge.origin.delete_object(Bucket="s3origin", Key=f"site/{key}")


@pytest.fixture
def prefix() -> str:
    """A prefix of the writable "rwb" bucket of this test's own."""
    return f"clients-{os.urandom(4).hex()}"


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Files as a user's are: written a while before they are uploaded. (Written in the
    second they go up, a file is newer than the object's LastModified, which S3 gives to the
    second, and `aws s3 sync` rightly sends it again.)"""
    written = time.time() - 3600
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
        os.utime(root / name, (written, written))
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def held(edge: S3Edge, key: str) -> bytes:
    """What the origin bucket holds for a key of the "rwb" bucket."""
    return edge.origin.get_object(Bucket="s3origin", Key=f"rw/{key}")["Body"].read()


def held_tree(edge: S3Edge, prefix: str) -> dict[str, bytes]:
    """What the origin bucket holds under a prefix of the "rwb" bucket, by key below it."""
    pages = edge.origin.get_paginator("list_objects_v2").paginate(Bucket="s3origin", Prefix=f"rw/{prefix}/")
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return {key.removeprefix(f"rw/{prefix}/"): held(edge, key.removeprefix("rw/")) for key in keys}


def absent(edge: S3Edge, key: str) -> bool:
    try:
        edge.origin.head_object(Bucket="s3origin", Key=f"rw/{key}")
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return False


def put(edge: S3Edge, key: str, body: bytes) -> None:
    """An object of the "rwb" bucket, written through the edge (so its cache knows it)."""
    edge.client().put_object(Bucket="rwb", Key=key, Body=body)


def last_words(lines: str) -> list[str]:
    """The last field of each line: the names in `aws s3 ls` and `s3cmd ls` output."""
    return [line.split(None, 3)[-1] for line in lines.splitlines() if line.strip()]


def lines_with(output: str, word: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(word)]


def md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def sizes(listing: str, fields: int) -> dict[str, int]:
    """Name → size, from listing lines of this many fields: the size, then the name, last."""
    return {parts[-1]: int(parts[-2]) for parts in (line.split(None, fields - 1) for line in listing.splitlines())}


# --- the AWS CLI ----------------------------------------------------------------------------


def test_aws_cli_lists_buckets_and_prefixes(aws: Tool, listed: dict[str, bytes]) -> None:
    assert last_words(aws("s3", "ls")) == ["assets", "both", "pub", "rwb"]
    root = aws("s3", "ls", "s3://assets/")
    assert "PRE clients/" in root and "PRE dir/" in root
    assert {"a.txt", "big.bin", "clients/", "dir/"} <= set(last_words(root))
    level = aws("s3", "ls", "s3://assets/clients/")
    assert sorted(last_words(level)) == ["one.txt", "sub/", "ünï cødé.txt"]
    everything = aws("s3", "ls", "--recursive", "s3://assets/clients/")
    assert sorted(last_words(everything)) == sorted(listed)
    assert sizes(everything, 4) == {key: len(body) for key, body in listed.items()}


def test_aws_cli_cp_up_and_down(aws: Tool, s3_edge: S3Edge, tmp_path: Path, prefix: str) -> None:  # noqa: F811
    small, big = os.urandom(1000), os.urandom(BIG)
    write_tree(tmp_path / "up", {"small.bin": small, "big.bin": big})
    for name in ("small.bin", "big.bin"):  # big.bin goes up in 8 MiB parts
        aws("s3", "cp", tmp_path / "up" / name, f"s3://rwb/{prefix}/{name}")
    assert held_tree(s3_edge, prefix) == {"small.bin": small, "big.bin": big}
    uploads = s3_edge.server.workdir / "store" / "uploads"  # no parts left; a completion's answer is kept
    assert not uploads.exists() or all(p.name.startswith("done-") for p in uploads.iterdir())
    for name in ("small.bin", "big.bin"):
        aws("s3", "cp", f"s3://rwb/{prefix}/{name}", tmp_path / "down" / name)
    assert read_tree(tmp_path / "down") == {"small.bin": small, "big.bin": big}


def test_aws_cli_sync_up_and_down(aws: Tool, s3_edge: S3Edge, tmp_path: Path, prefix: str) -> None:  # noqa: F811
    local = write_tree(tmp_path / "local", TREE)
    target = f"s3://rwb/{prefix}/tree"
    assert len(lines_with(aws("s3", "sync", local, target), "upload:")) == len(TREE)
    assert held_tree(s3_edge, f"{prefix}/tree") == TREE
    assert aws("s3", "sync", local, target).strip() == ""  # nothing changed, nothing sent
    down = tmp_path / "down"
    assert len(lines_with(aws("s3", "sync", target, down), "download:")) == len(TREE)
    assert read_tree(down) == TREE
    assert aws("s3", "sync", target, down).strip() == ""


@pytest.mark.parametrize("signature", ["", "s3v4"])  # the CLI's default (V2's query string), and V4's
def test_aws_cli_presign(aws: Tool, signature: str) -> None:
    if signature:
        Path(aws.env["AWS_CONFIG_FILE"]).write_text(f"{AWS_CONFIG}    signature_version = {signature}\n")
    url = aws("s3", "presign", "s3://assets/a.txt", "--expires-in", "120").strip()
    assert ("X-Amz-Signature=" in url) == bool(signature), url
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the edge's own URL
        assert (response.status, response.read()) == (200, BODY)


def test_aws_cli_cp_server_side_copy(aws: Tool, s3_edge: S3Edge, prefix: str) -> None:  # noqa: F811
    small, big = os.urandom(1000), os.urandom(BIG)
    put(s3_edge, f"{prefix}/small.bin", small)
    put(s3_edge, f"{prefix}/big.bin", big)
    aws("s3", "cp", f"s3://rwb/{prefix}/small.bin", f"s3://rwb/{prefix}/copies/small.bin")  # CopyObject
    aws("s3", "cp", f"s3://rwb/{prefix}/big.bin", f"s3://rwb/{prefix}/copies/big.bin")  # UploadPartCopy
    aws("s3", "cp", "s3://assets/a.txt", f"s3://rwb/{prefix}/copies/a.txt")  # from the read-only bucket
    assert held_tree(s3_edge, f"{prefix}/copies") == {"small.bin": small, "big.bin": big, "a.txt": BODY}
    assert held(s3_edge, f"{prefix}/small.bin") == small  # the sources stay
    assert s3_edge.client().get_object(Bucket="rwb", Key=f"{prefix}/copies/big.bin")["Body"].read() == big


def test_aws_cli_mv_server_side_copy(aws: Tool, s3_edge: S3Edge, prefix: str) -> None:  # noqa: F811
    body = os.urandom(5000)
    put(s3_edge, f"{prefix}/from.bin", body)
    aws("s3", "mv", f"s3://rwb/{prefix}/from.bin", f"s3://rwb/{prefix}/to.bin")
    assert held(s3_edge, f"{prefix}/to.bin") == body
    assert absent(s3_edge, f"{prefix}/from.bin")
    assert last_words(aws("s3", "ls", f"s3://rwb/{prefix}/")) == ["to.bin"]


# --- rclone ---------------------------------------------------------------------------------


def test_rclone_lists(rclone: Tool, listed: dict[str, bytes]) -> None:
    assert rclone("lsf", "edge:").split() == ["assets/", "both/", "pub/", "rwb/"]
    assert sorted(rclone("lsf", "edge:assets/clients").splitlines()) == ["one.txt", "sub/", "ünï cødé.txt"]
    below = {key.removeprefix("clients/"): len(body) for key, body in listed.items()}
    assert sorted(rclone("lsf", "-R", "--files-only", "edge:assets/clients").splitlines()) == sorted(below)
    assert sizes(rclone("ls", "edge:assets/clients"), 2) == below


def test_rclone_copy_up_and_down(rclone: Tool, s3_edge: S3Edge, tmp_path: Path, prefix: str) -> None:  # noqa: F811
    files = {**TREE, "big.bin": os.urandom(BIG)}  # under rclone's 200 MiB cutoff: one PUT
    local = write_tree(tmp_path / "local", files)
    rclone("copy", local, f"edge:rwb/{prefix}/tree")
    assert held_tree(s3_edge, f"{prefix}/tree") == files
    rclone("copy", f"edge:rwb/{prefix}/tree", tmp_path / "down")
    assert read_tree(tmp_path / "down") == files


def test_rclone_sync_then_check(rclone: Tool, s3_edge: S3Edge, tmp_path: Path, prefix: str) -> None:  # noqa: F811
    local = write_tree(tmp_path / "local", TREE)
    remote = f"edge:rwb/{prefix}/synced"
    rclone("sync", local, remote)
    assert held_tree(s3_edge, f"{prefix}/synced") == TREE
    checked = rclone.ok("check", local, remote)  # sizes and MD5s, file by file
    assert "0 differences found" in checked.stderr, rclone.explain(checked)
    assert f"{len(TREE)} matching files" in checked.stderr, rclone.explain(checked)
    (local / "sub" / "b.bin").unlink()  # a file gone, one changed, one new: sync follows
    changed = {**TREE, "a.txt": b"changed", "new.txt": b"new"}
    del changed["sub/b.bin"]
    write_tree(local, changed)
    rclone("sync", local, remote)
    assert held_tree(s3_edge, f"{prefix}/synced") == changed
    checked = rclone.ok("check", local, remote)
    assert "0 differences found" in checked.stderr, rclone.explain(checked)
    assert f"{len(changed)} matching files" in checked.stderr, rclone.explain(checked)


def test_rclone_copyto_checks_the_existing_bucket(rclone: Tool, s3_edge: S3Edge, tmp_path: Path,  # noqa: F811
                                                  prefix: str) -> None:
    body = os.urandom(3000)
    source = write_tree(tmp_path, {"one.bin": body}) / "one.bin"
    rclone("copyto", source, f"edge:rwb/{prefix}/new/name.bin")  # no --s3-no-check-bucket
    assert held(s3_edge, f"{prefix}/new/name.bin") == body
    rclone("copyto", f"edge:rwb/{prefix}/new/name.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == body


def test_rclone_moveto_server_side_copy(rclone: Tool, s3_edge: S3Edge, prefix: str) -> None:  # noqa: F811
    body = os.urandom(5000)
    put(s3_edge, f"{prefix}/from.bin", body)
    moved = rclone.ok("moveto", "-v", f"edge:rwb/{prefix}/from.bin", f"edge:rwb/{prefix}/to.bin")
    assert "Copied (server-side copy)" in moved.stderr, rclone.explain(moved)  # not down and up again
    assert held(s3_edge, f"{prefix}/to.bin") == body
    assert absent(s3_edge, f"{prefix}/from.bin")
    assert rclone("lsf", f"edge:rwb/{prefix}").split() == ["to.bin"]


# --- s3cmd ----------------------------------------------------------------------------------


def test_s3cmd_lists(s3cmd: Tool, listed: dict[str, bytes]) -> None:
    assert last_words(s3cmd("ls")) == ["s3://assets", "s3://both", "s3://pub", "s3://rwb"]
    level = last_words(s3cmd("ls", "s3://assets/clients/"))
    assert sorted(level) == ["s3://assets/clients/one.txt", "s3://assets/clients/sub/",
                             "s3://assets/clients/ünï cødé.txt"]
    everything = s3cmd("ls", "--recursive", "s3://assets/clients/")
    assert sorted(last_words(everything)) == [f"s3://assets/{key}" for key in sorted(listed)]


def test_s3cmd_put_get_and_info(s3cmd: Tool, s3_edge: S3Edge, tmp_path: Path, prefix: str) -> None:  # noqa: F811
    body = os.urandom(40_000)
    source = write_tree(tmp_path, {"one.bin": body}) / "one.bin"
    url = f"s3://rwb/{prefix}/one.bin"
    s3cmd("put", source, url)
    assert held(s3_edge, f"{prefix}/one.bin") == body
    s3cmd("get", url, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == body
    info = s3cmd("info", url)  # its MD5 from the s3cmd-attrs metadata it stored
    assert f"File size: {len(body)}" in info and f"MD5 sum:   {md5(body)}" in info, info
    info = s3cmd("info", "s3://assets/a.txt")  # its MD5 from the ETag, the object not s3cmd's
    assert f"File size: {len(BODY)}" in info and f"MD5 sum:   {md5(BODY)}" in info, info
    assert "MIME type: text/plain" in info, info


def test_s3cmd_sync(s3cmd: Tool, s3_edge: S3Edge, tmp_path: Path, prefix: str) -> None:  # noqa: F811
    local = write_tree(tmp_path / "local", TREE)
    target = f"s3://rwb/{prefix}/synced/"
    assert len(lines_with(s3cmd("sync", f"{local}/", target), "upload:")) == len(TREE)
    assert held_tree(s3_edge, f"{prefix}/synced") == TREE
    assert lines_with(s3cmd("sync", f"{local}/", target), "upload:") == []  # nothing changed
    down = tmp_path / "down"
    down.mkdir()
    assert len(lines_with(s3cmd("sync", target, f"{down}/"), "download:")) == len(TREE)
    assert read_tree(down) == TREE
    assert lines_with(s3cmd("sync", target, f"{down}/"), "download:") == []


def test_s3cmd_cp_and_mv_server_side_copy(s3cmd: Tool, s3_edge: S3Edge, prefix: str) -> None:  # noqa: F811
    body = os.urandom(5000)
    put(s3_edge, f"{prefix}/from.bin", body)
    s3cmd("cp", f"s3://rwb/{prefix}/from.bin", f"s3://rwb/{prefix}/copy.bin")
    assert held(s3_edge, f"{prefix}/copy.bin") == body and held(s3_edge, f"{prefix}/from.bin") == body
    s3cmd("mv", f"s3://rwb/{prefix}/from.bin", f"s3://rwb/{prefix}/moved.bin")
    assert held(s3_edge, f"{prefix}/moved.bin") == body
    assert absent(s3_edge, f"{prefix}/from.bin")
