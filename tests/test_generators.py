"""Generators as origins: deterministic functions run once per key, then cached."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edge_server import EdgeServer, request

from fallthrough.config import ConfigError, parse
from fallthrough.origins import BadOriginURL, open_origin

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeServer]:
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(EXAMPLES)])
    config = "".join(
        f'[[mount]]\nurl_prefix = "/{name}"\norigin = "generator:{target}"\n'
        for name, target in (("digest", "generators_for_tests:digest"), ("slow", "generators_for_tests:slowly"),
                             ("broken", "generators_for_tests:broken"), ("badge", "generators:badge")))
    config += '[[mount]]\nurl_prefix = "/brief"\norigin = "generator:generators_for_tests:digest"\nmax_ttl = "1s"\n'
    try:
        with EdgeServer(tmp_path_factory.mktemp("generators"), config) as server:
            yield server
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def origin_requests(edge: EdgeServer) -> int:
    return json.loads(request(edge.url + "/_fallthrough/health").body)["origin_requests"]


def test_a_generator_runs_once_per_key_and_parameters(edge: EdgeServer) -> None:
    before = origin_requests(edge)
    first = request(edge.url + "/digest/hello?rounds=3")
    expected = hashlib.sha256(hashlib.sha256(hashlib.sha256(b"hello").digest()).digest()).digest().hex()
    assert first.status == 200 and first.body.decode() == expected
    assert first.header("content-type") == "text/plain; charset=utf-8"
    assert first.header("cache-control") == "public, max-age=31536000, immutable"
    again = request(edge.url + "/digest/hello?rounds=3")
    assert again.header("x-cache") == "HIT" and again.header("etag") == first.header("etag")
    other = request(edge.url + "/digest/hello?rounds=4")
    assert other.header("x-cache") == "MISS" and other.header("etag") != first.header("etag")
    assert origin_requests(edge) == before + 2


def test_concurrent_requests_share_one_run(edge: EdgeServer) -> None:
    before = origin_requests(edge)
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: request(edge.url + "/slow/together"), range(16)))
    assert {(r.status, r.body) for r in replies} == {(200, b"together")}
    assert origin_requests(edge) == before + 1


def test_the_documented_example(edge: EdgeServer) -> None:
    reply = request(edge.url + "/badge/passing?color=green")
    assert reply.status == 200 and reply.header("content-type") == "image/svg+xml"
    assert b">passing</text>" in reply.body and b"#3c1" in reply.body
    assert request(edge.url + "/badge/passing?color=mauve").status == 400


def test_a_revalidation_is_answered_without_running_the_generator(edge: EdgeServer) -> None:
    first = request(edge.url + "/brief/again?rounds=2")
    assert first.header("x-cache") == "MISS"
    runs = origin_requests(edge)
    time.sleep(2.5)  # past max_ttl
    again = request(edge.url + "/brief/again?rounds=2")
    assert again.header("x-cache") == "REVALIDATED" and again.body == first.body
    assert origin_requests(edge) == runs + 1  # asked, and answered 304 from the ETag alone


def test_errors(edge: EdgeServer) -> None:
    missing = request(edge.url + "/digest/missing")
    assert missing.status == 404 and b"no such thing" in missing.body
    bad = request(edge.url + "/digest/x?rounds=0")
    assert bad.status == 400 and b"rounds: from 1 to 1000" in bad.body
    failed = request(edge.url + "/broken/x")
    assert failed.status == 502 and b"out of ink" in failed.body
    assert request(edge.url + "/digest/x", method="PUT", body=b"no").status == 405
    assert "Traceback" in edge.log.read_text()  # the generator's own failure is logged whole, server-side


def test_bad_generator_origins_are_refused_with_one_line() -> None:
    sys.path.insert(0, str(HERE))
    try:
        for url, words in (("generator:no_such_module_here:f", "cannot import"),
                           ("generator:generators_for_tests:nothing", "not a function"),
                           ("generator:nameless", "no generator named 'nameless'")):
            with pytest.raises(BadOriginURL) as caught:
                open_origin(url)
            assert words in str(caught.value)
    finally:
        sys.path.remove(str(HERE))
    with pytest.raises(ConfigError):
        parse('[[mount]]\nurl_prefix = "/g"\norigin = "generator:x"\nendpoint = "http://y"\n')
