"""RFC 9111 / 9110 rules of a shared cache, end to end through the real server.

Each test is a rule the public HTTP caching suite checks, written as the client and the
origin see it: what the origin sent, what each client got, how often the origin was
asked. The rules' pure parts are tested with hypothesis in test_http_rules.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_server import EdgeServer
from origin_server import OriginServer


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginServer]:
    with OriginServer() as server:
        yield server


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, origin: OriginServer) -> Iterator[EdgeServer]:
    mount = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\nstale_while_revalidate = "0s"\n'
    with EdgeServer(tmp_path_factory.mktemp("rules"), mount) as server:
        yield server


_names = iter(range(10**9))


def fresh_path(name: str) -> str:
    """A path no other test of the module used (the edge and origin are shared)."""
    return f"/{name}-{next(_names)}"


# -- Age: one source of truth (RFC 9111 §4.2.3, §5.1) -----------------------------------


@pytest.mark.parametrize("request_headers", [{}, {"Cache-Control": "max-stale=0"}, {"Pragma": "x"}])
def test_an_age_past_max_age_is_stale_on_every_path(edge: EdgeServer, origin: OriginServer,
                                                    request_headers: dict[str, str]) -> None:
    path = fresh_path("old")
    origin.put(path, b"old", headers={"Cache-Control": "max-age=3600", "Age": "7200"})
    first = edge.get("/o" + path)
    assert first.status == 200 and int(first.header("age")) >= 7200  # a miss says its age too
    edge.wait_idle()
    second = edge.get("/o" + path, headers=request_headers)
    assert second.header("x-cache") != "HIT"
    assert origin.count(path) == 2


def test_a_hit_counts_the_origin_age_plus_its_time_here(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("aged")
    origin.put(path, b"x", headers={"Cache-Control": "max-age=600", "Age": "30"})
    edge.get("/o" + path)
    edge.wait_idle()
    time.sleep(1.1)
    for headers in ({}, {"Cache-Control": "max-age=500"}):
        hit = edge.get("/o" + path, headers=headers)
        assert hit.header("x-cache") == "HIT" and int(hit.header("age")) >= 31


def test_a_passed_through_response_keeps_its_age(edge: EdgeServer, origin: OriginServer) -> None:
    path = fresh_path("private")
    origin.put(path, b"x", headers={"Cache-Control": "private", "Age": "12"})
    reply = edge.get("/o" + path)
    assert reply.status == 200 and reply.header("age") == "12"
