"""Metrics, health and readiness, through the real server (`fallthrough serve`, 2 workers
and the S3 listener's 2): what a scrape says must be exactly the traffic that was sent."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from edge_server import FALLTHROUGH, TOKEN, EdgeServer, Reply, free_port, request
from fallthrough.config import ConfigError, parse
from fallthrough.server.health import GONE_KEPT, STALE_AFTER, Heartbeat, node_health, readiness
from fallthrough.server.metrics import Metrics
from fallthrough.server.metrics_files import VARIABLE, exposition, tidy
from origin_server import OriginServer
from test_s3_api import wait_port

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODIES = {"/a.txt": os.urandom(1000), "/b.bin": os.urandom(5000), "/secret-key-3f9a.txt": os.urandom(300)}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def lasting(text: str) -> Samples:
    """The counters and histograms: what outlives the process that counted it (gauges do not)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) if family.type in ("counter", "histogram")
            for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    reply = request(url, headers=AUTH if headers is None else headers)
    assert reply.status == 200, reply.body
    return samples(reply.body.decode())


def scrape_until(url: str, name: str, expected: float, timeout: float = 10) -> Samples:
    """Until the workers' folds (once a second each) have all come in."""
    deadline = time.monotonic() + timeout
    while True:
        found = scrape(url)
        if total(found, name) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@dataclass
class Node:
    edge: EdgeServer
    s3_url: str
    sent: Counter[tuple[str, str]]  # (front, cache) → requests
    origin_bytes: int  # body bytes the origin sent
    miss_bytes: int  # response body bytes of the edge's misses
    hit_bytes: Counter[str]  # front → response body bytes of hits
    paths: list[str]

    @property
    def metrics_url(self) -> str:
        return self.edge.url + "/_fallthrough/metrics"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("metrics")
    with OriginServer() as origin:
        for path, body in BODIES.items():
            origin.put(path, body, headers={"Cache-Control": "max-age=3600"})
        s3_port = free_port()
        config = (f'[s3]\nlisten = "127.0.0.1:{s3_port}"\n'
                  f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\ns3_bucket = "pub"\ns3_public = true\n')
        with EdgeServer(workdir, config, workers=2) as edge:
            wait_port(s3_port)
            deadline = time.monotonic() + 30
            while json.loads(edge.get("/_fallthrough/health").body)["node"]["alive"] < 4:  # the S3 workers too
                assert time.monotonic() < deadline, "the S3 listener's workers did not start"
                time.sleep(0.1)
            sent: Counter[tuple[str, str]] = Counter()
            hit_bytes: Counter[str] = Counter()
            paths = []

            def get(path: str, cache: str, method: str = "GET", front: str = "edge") -> Reply:
                base = edge.url if front == "edge" else f"http://127.0.0.1:{s3_port}"
                reply = request(base + path, method)
                paths.append(path)
                sent[front, cache] += 1
                if cache != "error":
                    assert reply.header("x-cache") == cache.upper(), (path, reply.status, dict(reply.headers))
                return reply

            miss_bytes = origin_bytes = 0
            for path, body in BODIES.items():
                assert get("/o" + path, "miss").body == body
                miss_bytes += len(body)
            edge.wait_stored(len(BODIES))
            for _ in range(3):
                for path, body in BODIES.items():
                    assert get("/o" + path, "hit").body == body
                    hit_bytes["edge"] += len(body)
            for _ in range(2):
                assert get("/o/a.txt", "hit", "HEAD").status == 200
            missing = get("/o/missing-thing", "miss")
            assert missing.status == 404
            miss_bytes += len(missing.body)
            assert edge.purge(url="/o/a.txt").status == 200
            assert get("/o/a.txt", "miss").body == BODIES["/a.txt"]
            miss_bytes += len(BODIES["/a.txt"])
            assert get("/nowhere", "error").status == 404  # no mount: never a cache transaction
            origin_bytes = miss_bytes
            edge.wait_stored(len(BODIES))
            for _ in range(2):
                assert get("/pub/b.bin", "hit", front="s3").body == BODIES["/b.bin"]
                hit_bytes["s3"] += len(BODIES["/b.bin"])
            assert get("/nobucket/x", "error", front="s3").status == 404
            yield Node(edge, f"http://127.0.0.1:{s3_port}", sent, origin_bytes, miss_bytes, hit_bytes, paths)


def test_a_scrape_counts_exactly_the_requests_sent(node: Node) -> None:
    found = scrape_until(node.metrics_url, "fallthrough_requests_total", sum(node.sent.values()))
    counted = {(dict(ls)["front"], dict(ls)["cache"]): v for (n, ls), v in found.items()
               if n == "fallthrough_requests_total" and v}
    assert counted == dict(node.sent)
    assert total(found, "fallthrough_response_bytes_total", front="edge", source="origin") == node.miss_bytes
    for front in ("edge", "s3"):  # hits come from the worker's memory or from the store
        assert (total(found, "fallthrough_response_bytes_total", front=front, source="memory")
                + total(found, "fallthrough_response_bytes_total", front=front, source="store")) == node.hit_bytes[front]
    assert value(found, "fallthrough_origin_requests_total", mount="/o", status="200") == len(BODIES) + 1
    assert value(found, "fallthrough_origin_requests_total", mount="/o", status="404") == 1
    assert total(found, "fallthrough_origin_requests_total") == len(BODIES) + 2
    assert value(found, "fallthrough_origin_first_byte_seconds_count", mount="/o") == len(BODIES) + 2
    assert value(found, "fallthrough_origin_duration_seconds_count", mount="/o") == len(BODIES) + 2
    assert value(found, "fallthrough_origin_bytes_total", mount="/o") == node.origin_bytes
    assert value(found, "fallthrough_purges_total", kind="url") == 1
    assert total(found, "fallthrough_purges_total") == 1
    assert value(found, "fallthrough_fills_in_flight") == 0
    health = json.loads(node.edge.get("/_fallthrough/health").body)
    assert value(found, "fallthrough_index_entries") == health["entries"]
    # Every server process reports its resident memory, the S3 listener's included.
    resident = {dict(ls)["pid"]: dict(ls)["front"] for (n, ls), v in found.items()
                if n == "fallthrough_process_resident_memory_bytes" and v > 0}
    assert sorted(resident.values()) == ["edge", "edge", "s3", "s3"]
    time.sleep(1.5)  # another round of folds adds nothing that was not sent
    again = scrape(node.metrics_url)
    assert total(again, "fallthrough_requests_total") == sum(node.sent.values())
    assert total(again, "fallthrough_origin_requests_total") == len(BODIES) + 2


def test_no_key_path_or_digest_in_any_label(node: Node) -> None:
    found = scrape_until(node.metrics_url, "fallthrough_requests_total", sum(node.sent.values()))
    labels = {(name, v) for (_, ls) in found for name, v in ls}
    for _, v in labels:
        assert not re.search(r"[0-9a-f]{32}", v), v
        for path in node.paths:
            assert path.rsplit("/", 1)[-1] not in v, (path, v)
    assert {v for name, v in labels if name == "mount"} == {"/o"}  # the configured prefix, nothing else
    assert {v for name, v in labels if name == "front"} <= {"edge", "s3", "image", "iiif", "avatar"}


def test_the_metrics_need_the_admin_token(node: Node) -> None:
    bare = request(node.metrics_url)
    assert bare.status == 401 and bare.header("www-authenticate") == "Bearer"
    assert request(node.metrics_url, headers={"Authorization": "Bearer not-the-token-at-all"}).status == 401
    good = request(node.metrics_url, headers=AUTH)
    assert good.status == 200 and good.header("content-type").startswith("text/plain")
    assert b"fallthrough_requests_total" in good.body


def test_health_lists_every_process_of_the_node(node: Node) -> None:
    health = json.loads(node.edge.get("/_fallthrough/health").body)
    assert health["status"] == "ok"
    assert {"pid", "entries", "bytes", "fills", "origin_requests"} <= set(health)  # as before
    assert health["node"]["expected"] == {"edge": 2, "s3": 2}
    assert health["node"]["alive"] == 4 and health["node"]["alive_by_front"] == {"edge": 2, "s3": 2}
    assert sorted(w["front"] for w in health["workers"]) == ["edge", "edge", "s3", "s3"]
    assert all(w["alive"] and w["heartbeat_age"] < STALE_AFTER for w in health["workers"])
    assert health["pid"] in {w["pid"] for w in health["workers"]}
    assert health["node"]["fills"] == 0
    assert "127.0.0.1" not in json.dumps(health)  # no addresses


def test_ready(node: Node) -> None:
    reply = node.edge.get("/_fallthrough/ready")
    assert reply.status == 200 and json.loads(reply.body) == {"ready": True}
    journal = node.edge.workdir / "store" / "index" / "journal"
    journal.rename(journal.with_name("journal.away"))
    try:
        reply = node.edge.get("/_fallthrough/ready")
        assert reply.status == 503
        answer = json.loads(reply.body)
        assert answer["ready"] is False and "index journal" in answer["reason"]
        assert str(node.edge.workdir) not in answer["reason"]
    finally:
        journal.with_name("journal.away").rename(journal)
    assert node.edge.get("/_fallthrough/ready").status == 200


def test_public_metrics_and_counts_that_outlive_a_reload(tmp_path: Path) -> None:
    """A reload replaces every worker: what the old ones counted stays counted (their
    files are folded into the archive), and the directory holds no file of theirs."""
    with OriginServer() as origin:
        origin.put("/x", b"x" * 100, headers={"Cache-Control": "max-age=3600"})
        config = f'[metrics]\npublic = true\n[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'
        with EdgeServer(tmp_path, config, workers=2) as edge:
            url = edge.url + "/_fallthrough/metrics"
            assert request(url).status == 200  # public: no token needed
            for _ in range(6):
                assert edge.get("/o/x").status == 200
            before = scrape_until(url, "fallthrough_requests_total", 6, timeout=10)
            assert total(before, "fallthrough_requests_total") == 6
            old = {w["pid"] for w in json.loads(edge.get("/_fallthrough/health").body)["workers"]}
            result = subprocess.run([FALLTHROUGH, "reload", "--config", str(edge.config)], capture_output=True,
                                    timeout=60)
            assert result.returncode == 0, result.stderr
            deadline = time.monotonic() + 30
            while True:
                health = json.loads(edge.get("/_fallthrough/health").body)
                pids = {w["pid"] for w in health["workers"] if w["alive"]}
                if len(pids) == 2 and not pids & old:
                    break
                assert time.monotonic() < deadline, health
                time.sleep(0.2)
            after = scrape(url, headers={})
            assert total(after, "fallthrough_requests_total") == 6
            assert value(after, "fallthrough_origin_requests_total", mount="/o", status="200") == 1
            files = os.listdir(tmp_path / "store" / "run" / "metrics")
            assert "counter_archive.db" in files
            assert not [f for f in files if any(f.endswith(f"_{pid}.db") for pid in old)], files
            assert edge.get("/o/x").status == 200
            assert total(scrape_until(url, "fallthrough_requests_total", 7), "fallthrough_requests_total") == 7


def test_a_killed_worker_is_seen_and_its_counts_stay(tmp_path: Path) -> None:
    """A worker killed outright is replaced by the node: health shows the dead one as not
    alive for a while, and what it had counted (folded a second before) stays counted,
    its files folded into the archive."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.txt").write_bytes(b"hello")
    config = f'[[mount]]\nurl_prefix = "/"\norigin = "file://{site}"\ndefault_ttl = "1h"\n'
    with EdgeServer(tmp_path, config, workers=2) as edge:
        url = edge.url + "/_fallthrough/metrics"
        for _ in range(10):
            assert edge.get("/a.txt").status == 200
        assert total(scrape_until(url, "fallthrough_requests_total", 10), "fallthrough_requests_total") == 10
        time.sleep(1.5)  # every worker has folded what it counted
        victim = json.loads(edge.get("/_fallthrough/health").body)["workers"][0]["pid"]
        os.kill(victim, 9)
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
            try:
                health = json.loads(edge.get("/_fallthrough/health").body)
            except OSError:  # a connection the killed worker had taken
                continue
            by_pid = {w["pid"]: w for w in health["workers"]}
            if health["node"]["alive_by_front"]["edge"] == 2 and victim in by_pid and not by_pid[victim]["alive"]:
                break  # replaced, and the dead one still listed
        assert health["status"] == "degraded"
        metrics = tmp_path / "store" / "run" / "metrics"
        while any(f.endswith(f"_{victim}.db") for f in os.listdir(metrics)):
            assert total(scrape(url), "fallthrough_requests_total") == 10  # folding or not: counted once
            assert time.monotonic() < deadline, os.listdir(metrics)
            time.sleep(0.2)
        assert "counter_archive.db" in os.listdir(metrics)
        assert total(scrape(url), "fallthrough_requests_total") == 10
        assert edge.get("/a.txt").status == 200
        assert total(scrape_until(url, "fallthrough_requests_total", 11), "fallthrough_requests_total") == 11


def test_metrics_on_their_own_listener(tmp_path: Path) -> None:
    port = free_port()
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.txt").write_bytes(b"hello")
    config = (f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
              f'[[mount]]\nurl_prefix = "/"\norigin = "file://{site}"\ndefault_ttl = "1h"\n')
    with EdgeServer(tmp_path, config, workers=2) as edge:
        wait_port(port)
        for _ in range(3):
            assert edge.get("/a.txt").body == b"hello"
        url = f"http://127.0.0.1:{port}/metrics"
        assert request(url).status == 401
        found = scrape_until(url, "fallthrough_requests_total", 3)
        assert total(found, "fallthrough_requests_total") == 3
        assert value(found, "fallthrough_requests_total", front="edge", cache="miss") == 1
        assert request(f"http://127.0.0.1:{port}/_fallthrough/metrics", headers=AUTH).status == 200
        assert request(f"http://127.0.0.1:{port}/elsewhere", headers=AUTH).status == 404
        assert edge.get("/_fallthrough/metrics", headers=AUTH).status == 404  # served on the listener only


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, named", [
    ('[metrics]\nport = 9100\n', "metrics.port: unknown key"),
    ('[metrics]\nlisten = "nowhere"\n', "metrics.listen: expected HOST:PORT"),
    ('[metrics]\npublic = "yes"\n', "metrics.public: expected true or false"),
    ('[server]\nlisten = "127.0.0.1:8080"\n[metrics]\nlisten = "127.0.0.1:8080"\n', "is already server.listen"),
    ('[metrics]\nenabled = false\nlisten = "127.0.0.1:9100"\n', "metrics.listen: the metrics are off"),
])
def test_a_bad_metrics_section_names_the_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        parse(text, "site.toml")


def test_check_refuses_a_bad_metrics_key_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[store]\npath = "{tmp_path / "store"}"\n[metrics]\nlisten_on = "127.0.0.1:9100"\n')
    result = subprocess.run([sys.executable, "-m", "fallthrough.cli", "check", "--config", str(bad)],
                            capture_output=True, timeout=60)
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines
    assert "metrics.listen_on: unknown key" in lines[0] and "Traceback" not in lines[0]


def test_the_metrics_are_on_by_default() -> None:
    settings = parse("")
    assert settings.metrics.enabled and not settings.metrics.public and settings.metrics.listen is None


# -- health, from the status files ------------------------------------------------------------


def _status_file(directory: Path, pid: int, heartbeat: float) -> None:
    (directory / f"{pid}.json").write_text(json.dumps(
        {"pid": pid, "front": "edge", "started": heartbeat - 5, "heartbeat": heartbeat, "entries": 3, "fills": 1,
         "in_flight": 2, "origin_requests": 4, "rss_bytes": 1000}))


def test_a_gone_or_stuck_process_is_not_alive(tmp_path: Path) -> None:
    beat = Heartbeat(str(tmp_path), "edge", lambda: {"entries": 3, "fills": 0, "in_flight": 1,
                                                     "origin_requests": 0, "rss_bytes": 10})
    beat.publish()
    sleeper = subprocess.Popen(["sleep", "30"])
    finished = subprocess.Popen(["true"])
    finished.wait()
    try:
        now = time.time()
        _status_file(tmp_path, sleeper.pid, now - STALE_AFTER - 1)  # alive, but its loop has not beaten
        _status_file(tmp_path, finished.pid, now)  # gone a moment ago
        health = node_health(beat, {"edge": 3})
        by_pid = {w["pid"]: w for w in health["workers"]}
        assert by_pid[os.getpid()]["alive"] is True
        assert by_pid[sleeper.pid]["alive"] is False and by_pid[finished.pid]["alive"] is False
        assert health["status"] == "degraded" and health["node"]["alive"] == 1
        assert health["node"]["in_flight"] == 1  # totals are of the live processes
        _status_file(tmp_path, finished.pid, now - GONE_KEPT - 1)  # gone long ago: no longer listed
        health = node_health(beat, {"edge": 3})
        assert finished.pid not in {w["pid"] for w in health["workers"]}
        assert not (tmp_path / f"{finished.pid}.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_readiness_says_why_not_without_a_path(tmp_path: Path) -> None:
    spool, journal = tmp_path / "tmp", tmp_path / "journal"
    spool.mkdir()
    assert "index journal cannot be read" in (readiness(str(spool), str(journal)) or "")
    journal.write_bytes(b"")
    assert readiness(str(spool), str(journal)) is None
    assert not list(spool.iterdir())  # the probe is gone again
    reason = readiness(str(tmp_path / "no-such-dir"), str(journal)) or ""
    assert "tmp directory cannot be written" in reason and str(tmp_path) not in reason


# -- scrape time after many restarts ----------------------------------------------------------


def _worker_files(directory: str, pid: int, settings) -> None:  # noqa: ANN001
    """One worker's metrics files, written by the workers' own code, after a mixed load."""
    stack = SimpleNamespace(tiers=[SimpleNamespace(name="file:///store/castore")],
                            stats=Counter({"read_bytes:file:///store/castore": 12345,
                                           "verification_failures:file:///store/castore": 1}))
    cache = SimpleNamespace(fills={}, index=_Index(), bodies=SimpleNamespace(bytes=4096), fleet=None, fleet_fills=None,
                            store=SimpleNamespace(stack=stack), housekeeper=None)
    mounts = [SimpleNamespace(prefix=p, front="edge", hits=100, hit_bytes=409600) for p in ("/a", "/b", "/c")]
    for mount in mounts:
        mount.derived = mount
    metrics = Metrics(directory, "edge", settings, cache, SimpleNamespace(mounts=mounts),  # type: ignore[arg-type]
                      lambda: 3, lambda: 0, process=lambda: pid)
    for front in ("edge", "s3", "image"):
        for word in ("HIT", "MISS", "STALE", "REVALIDATED", "PASS", ""):
            metrics.note(front, 200 if word else 502, 1000, word, None, word == "MISS")
    for mount in ("/a", "/b", "/c"):
        timings = metrics.origin(mount)
        for i, status in enumerate(("200", "304", "404", "timeout") * 5):
            timings.answered(status, 0.002 * (i + 1))
            timings.ended(0.01 * (i + 1), 1000)
    for kind in ("image", "iiif", "avatar"):
        metrics.transform(kind).answered("200", 0.0)
        metrics.transform(kind).ended(0.05, 2000)
    for kind in ("url", "prefix", "tag"):
        metrics.purged(kind)
    metrics.fold()
    values.ValueClass.close_all_files()


class _Index:
    """An index stand-in: what the metrics read of it."""

    bytes = 10**6
    refs: dict[bytes, int] = {}

    def __len__(self) -> int:
        return 500


def test_a_scrape_stays_fast_after_a_hundred_restarts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """8 live workers and the files 100 restarted ones leave behind: the first scrape
    folds them away, and neither it nor the ones after take 250 ms."""
    directory = str(tmp_path / "metrics")
    settings = parse(f'[store]\npath = "{tmp_path}"\n')
    live = [subprocess.Popen(["sleep", "120"]) for _ in range(8)]
    dead = []
    for _ in range(100):
        gone = subprocess.Popen(["true"])
        gone.wait()
        dead.append(gone.pid)
    saved_class, saved_dir = values.ValueClass, os.environ.get(VARIABLE)
    try:
        for pid in [p.pid for p in live] + dead:
            _worker_files(directory, pid, settings)
        files_before = len(os.listdir(directory))
        started = time.perf_counter()
        unfolded = lasting(exposition(directory).decode())
        unfolded_seconds = time.perf_counter() - started
        started = time.perf_counter()
        assert tidy(directory) == len(dead)
        first = lasting(exposition(directory).decode())
        first_seconds = time.perf_counter() - started
        steady = []
        for _ in range(5):
            started = time.perf_counter()
            tidy(directory)
            again = lasting(exposition(directory).decode())
            steady.append(time.perf_counter() - started)
        # Folding the dead away changed no count (sums of seconds may differ in the last bits:
        # floats added in another order).
        assert first == pytest.approx(unfolded) and again == pytest.approx(first)
        assert value(first, "fallthrough_requests_total", front="edge", cache="hit") == 108 * (1 + 300)
        assert value(first, "fallthrough_origin_requests_total", mount="/a", status="timeout") == 108 * 5
        left = os.listdir(directory)
        assert not [f for f in left if any(f.endswith(f"_{pid}.db") for pid in dead)]
        assert {"counter_archive.db", "histogram_archive.db"} <= set(left)
        gauges = samples(exposition(directory).decode())  # the gone processes' gauges went with them
        assert len([k for k in gauges if k[0] == "fallthrough_process_resident_memory_bytes"]) == len(live)
        with capsys.disabled():
            print(f"\nscrape, 8 live + 100 dead workers ({files_before} files): {unfolded_seconds * 1000:.1f} ms "
                  f"unfolded, {first_seconds * 1000:.1f} ms folding them away, "
                  f"{statistics.median(steady) * 1000:.1f} ms after ({len(left)} files)")
        assert first_seconds < 0.25 and statistics.median(steady) < 0.25
    finally:
        values.ValueClass = saved_class
        if saved_dir is None:
            os.environ.pop(VARIABLE, None)
        else:
            os.environ[VARIABLE] = saved_dir
        for process in live:
            process.kill()
            process.wait()
