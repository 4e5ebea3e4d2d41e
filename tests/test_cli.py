"""The `fallthrough blob` commands, run as a user runs them: a subprocess."""

from __future__ import annotations

import json
import os
import pty
import random
import subprocess
import sys
from pathlib import Path

import pytest

import fallthrough
from fallthrough.castore import B3Digest, chunk_path

DATA = random.Random(9).randbytes(2 * 1024 * 1024 + 321)


def ft(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fallthrough.cli", *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("fallthrough: error: ")
    return err


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, str, Path]:
    source = tmp_path / "input.bin"
    source.write_bytes(DATA)
    store = f"file://{tmp_path}/store"
    result = ft("blob", "put", str(source), "--store", store)
    assert result.returncode == 0, result.stderr
    digest = result.stdout.decode().strip().splitlines()[-1]
    return store, digest, tmp_path


def test_put_prints_the_digest(stored: tuple[str, str, Path]) -> None:
    _, digest, _ = stored
    assert digest == str(B3Digest.of(DATA))


def test_put_from_stdin(tmp_path: Path) -> None:
    result = ft("blob", "put", "-", "--store", str(tmp_path / "s"), stdin=b"hello from a pipe")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == str(B3Digest.of(b"hello from a pipe"))


def test_get_to_file_and_stdout(stored: tuple[str, str, Path]) -> None:
    store, digest, tmp = stored
    out = tmp / "out.bin"
    assert ft("blob", "get", digest, "--store", store, "-o", str(out)).returncode == 0
    assert out.read_bytes() == DATA
    result = ft("blob", "get", digest, "--store", store)
    assert result.returncode == 0 and result.stdout == DATA


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("10-19", DATA[10:20]), ("2000000-", DATA[2000000:]), ("-50", DATA[-50:]), ("0-0", DATA[:1]), ("5-99999999", DATA[5:])],
)
def test_get_range(stored: tuple[str, str, Path], spec: str, expected: bytes) -> None:
    store, digest, _ = stored
    result = ft("blob", "get", digest, "--store", store, "--range", spec)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_stat_is_json(stored: tuple[str, str, Path]) -> None:
    store, digest, _ = stored
    result = ft("blob", "stat", digest, "--store", store)
    info = json.loads(result.stdout)
    assert info["size"] == len(DATA)
    assert info["digest"] == digest
    assert sum(c["size"] for c in info["chunks"]) == len(DATA)
    assert all(len(c["digest"]) == 64 for c in info["chunks"])


def test_ls(stored: tuple[str, str, Path]) -> None:
    store, digest, tmp = stored
    small = ft("blob", "put", "-", "--store", store, stdin=b"x").stdout.decode().strip()
    listed = ft("blob", "ls", "--store", store).stdout.decode().split()
    assert sorted(listed) == sorted([digest, small])
    long = ft("blob", "ls", "-l", "--store", store).stdout.decode()
    assert f"{digest}\t{len(DATA)}\t" in long


def test_rm(stored: tuple[str, str, Path]) -> None:
    store, digest, tmp = stored
    assert ft("blob", "rm", digest, "--store", store).returncode == 0
    assert ft("blob", "ls", "--store", store).stdout.strip() == b""
    assert [p for p in (tmp / "store" / "chunks").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["blob", "get", "xyz"], "bad digest 'xyz'"),
        (["blob", "stat", "zz" * 32], "not hexadecimal"),
        (["blob", "get", "00" * 32], "not found"),
        (["blob", "get", "{digest}", "--range", "9-3"], "end comes before the start"),
        (["blob", "get", "{digest}", "--range", "abc"], "bad range"),
        (["blob", "get", "{digest}", "--range", "99999999-"], "past the end"),
        (["blob", "put", "/no/such/file"], "cannot read /no/such/file"),
    ],
)
def test_bad_input_is_one_line(stored: tuple[str, str, Path], args: list[str], message: str) -> None:
    store, digest, _ = stored
    result = ft(*[a.format(digest=digest) for a in args], "--store", store)
    assert message in one_line_error(result)


def test_unknown_scheme_and_unreachable_store(tmp_path: Path) -> None:
    assert "unknown scheme" in one_line_error(ft("blob", "ls", "--store", "ftp://x/y"))
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
           "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    err = one_line_error(ft("blob", "ls", "--store", "s3://bucket/prefix", env=env))
    assert "s3://bucket/prefix" in err


def test_no_store_given() -> None:
    assert "no store given" in one_line_error(ft("blob", "ls"))


def test_failed_get_leaves_no_output_file(stored: tuple[str, str, Path]) -> None:
    store, digest, tmp = stored
    chunks = json.loads(ft("blob", "stat", digest, "--store", store).stdout)["chunks"]
    victim = tmp / "store" / chunk_path(B3Digest.from_hex(chunks[-1]["digest"]))
    victim.write_bytes(b"broken")
    out = tmp / "out.bin"
    err = one_line_error(ft("blob", "get", digest, "--store", store, "-o", str(out)))
    assert chunks[-1]["digest"] in err
    assert not out.exists() and not (tmp / "out.bin.part").exists()


def test_config_with_tiers(tmp_path: Path) -> None:
    config = tmp_path / "store.toml"
    config.write_text(
        f"""
[store]
write = "through"
[[store.tier]]
url = "memory://"
max_bytes = "8MiB"
[[store.tier]]
url = "file://{tmp_path}/far"
"""
    )
    digest = ft("blob", "put", "-", "--config", str(config), stdin=DATA).stdout.decode().strip()
    assert digest == str(B3Digest.of(DATA))
    # The memory tier died with the process; the far tier has it.
    assert ft("blob", "get", digest, "--config", str(config)).stdout == DATA


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[store]\n[[store.tier]]\nurl = "memory://"\nmax_bytes = "lots"\n')
    assert "store.tier[0].max_bytes" in one_line_error(ft("blob", "ls", "--config", str(config)))


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(DATA)
    leader, follower = pty.openpty()
    result = subprocess.run(
        [sys.executable, "-m", "fallthrough.cli", "blob", "put", str(source), "--store", str(tmp_path / "s")],
        stdout=subprocess.PIPE, stderr=follower, timeout=60,
    )
    os.close(follower)
    shown = b""
    try:
        while chunk := os.read(leader, 65536):
            shown += chunk
    except OSError:
        pass
    os.close(leader)
    assert result.returncode == 0
    assert result.stdout.decode().strip() == str(B3Digest.of(DATA))
    assert b"put" in shown and b"%" in shown


def test_demo_runs_and_repairs(tmp_path: Path) -> None:
    """`make run` until the edge server exists: the tour must work on a fresh directory."""
    result = ft("demo", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "fetched 1 chunk(s)" in out
    assert "intact; corrupt chunks seen: 1" in out
    assert "Traceback" not in result.stderr.decode()


def test_version() -> None:
    result = ft("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"fallthrough {fallthrough.__version__}"


def test_purge_without_the_nodes_config_says_there_is_no_cache(tmp_path: Path) -> None:
    """Run where no node has stored anything, a purge must not report success (or create
    an empty store) for a cache that is not there."""
    result = subprocess.run([sys.executable, "-m", "fallthrough.cli", "purge", "/x"], cwd=tmp_path,
                            capture_output=True, timeout=120)
    assert "no cache index" in one_line_error(result) and "--config" in result.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_blob_ls_takes_a_servers_store_path(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "node"}"\n')
    digest = ft("blob", "put", "-", "--config", str(config), stdin=DATA).stdout.decode().strip()
    listed = ft("blob", "ls", "--store", str(tmp_path / "node"))
    assert listed.returncode == 0 and listed.stdout.decode().split() == [digest]


def test_check_validates_a_config_as_serve_would(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    good = tmp_path / "good.toml"
    good.write_text(f'[store]\npath = "{tmp_path / "store"}"\n[[mount]]\nurl_prefix = "/"\norigin = "file://{site}"\n')
    result = ft("check", "--config", str(good))
    assert result.returncode == 0 and "is good: 1 mount(s)" in result.stdout.decode()
    assert ft("check").returncode == 0  # the embedded default
    bad = tmp_path / "bad.toml"
    bad.write_text('[[mount]]\nurl_prefix = "/"\norigin = "file:///x"\ndefault_ttl = "soon"\n')
    assert "mount[0].default_ttl" in one_line_error(ft("check", "--config", str(bad)))
    unusable = tmp_path / "unusable.toml"
    unusable.write_text('[[mount]]\nurl_prefix = "/"\norigin = "http://"\n')
    assert "mount[0].origin" in one_line_error(ft("check", "--config", str(unusable)))


def test_check_leaves_out_the_listen_address_a_running_node_holds(tmp_path: Path) -> None:
    import socket
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        config = tmp_path / "node.toml"
        config.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n[store]\npath = "{tmp_path / "store"}"\n')
        assert ft("check", "--config", str(config)).returncode == 0


def test_check_connect_asks_each_origin(tmp_path: Path) -> None:
    import socket
    from origin_server import OriginServer
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]  # nothing listens once this is closed
    with OriginServer() as origin:
        config = tmp_path / "two.toml"
        config.write_text(f'[store]\npath = "{tmp_path / "store"}"\n'
                          f'[[mount]]\nurl_prefix = "/up"\norigin = "{origin.url}"\n')
        result = ft("check", "--config", str(config), "--connect")
        assert result.returncode == 0 and "1 origin(s) reached" in result.stdout.decode()
        assert origin.requests("/.fallthrough-check")[0].method == "HEAD"
        config.write_text(config.read_text() + f'[[mount]]\nurl_prefix = "/down"\norigin = "http://127.0.0.1:{dead}"\n'
                          'connect_timeout = "1s"\n')
        error = one_line_error(ft("check", "--config", str(config), "--connect"))
        assert "mount[1].origin (for /down)" in error and "cannot connect" in error
