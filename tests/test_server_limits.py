"""The [server] keys that bound a worker's connections and requests, and how they fit in
its open files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge_server import FALLTHROUGH, free_port
from fallthrough.config import ConfigError, ServerSettings, parse
from fallthrough.limits import LimitError, worker_limits


def test_the_keys_parse_and_default() -> None:
    server = parse('[server]\nbacklog = 8192\nmax_connections = 20000\nmax_requests = 500\n').server
    assert (server.backlog, server.max_connections, server.max_requests) == (8192, 20000, 500)
    server = parse("").server
    assert (server.backlog, server.max_connections, server.max_requests) == (4096, None, None)


@pytest.mark.parametrize(("text", "key"), [
    ("backlog = 10", "server.backlog"),
    ("backlog = true", "server.backlog"),
    ("max_connections = 0", "server.max_connections"),
    ('max_connections = "many"', "server.max_connections"),
    ("max_requests = -1", "server.max_requests"),
    ("max_requests = 1.5", "server.max_requests"),
])
def test_bad_values_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(f"[server]\n{text}\n")
    assert key in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("files", [1024, 4096, 20000, 65536, 1 << 20])
def test_unset_limits_fit_in_the_open_files(files: int) -> None:
    limits = worker_limits(ServerSettings(), files)
    assert 1 <= limits.requests <= limits.connections
    assert limits.connections + 2 * limits.requests + 256 <= files


def test_the_defaults_take_five_thousand_clients_on_one_worker_where_files_allow() -> None:
    limits = worker_limits(ServerSettings(), 20000)
    assert limits.connections >= 5000 and limits.requests >= 5000


def test_a_set_limit_leaves_the_rest_to_the_other() -> None:
    assert worker_limits(ServerSettings(max_requests=4), 20000).connections > 10000
    assert worker_limits(ServerSettings(max_connections=100), 20000).requests == 100


def test_limits_the_open_files_cannot_hold_are_refused_naming_the_key() -> None:
    with pytest.raises(LimitError) as caught:
        worker_limits(ServerSettings(max_connections=30000), 20000)
    assert str(caught.value).startswith("server.max_connections:") and "20,000" in str(caught.value)
    with pytest.raises(LimitError) as caught:
        worker_limits(ServerSettings(max_requests=15000), 20000)
    assert str(caught.value).startswith("server.max_requests:")


def test_serve_stops_with_one_line_when_the_limits_do_not_fit(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\nmax_connections = 9000000\n'
                      f'[store]\npath = "{tmp_path}/s"\n')
    result = subprocess.run([FALLTHROUGH, "serve", "--config", str(config)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "server.max_connections" in result.stderr and "Traceback" not in result.stderr
