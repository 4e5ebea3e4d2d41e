"""The dashboard at /_fallthrough/, loaded in headless Chromium (Debian's, which `make test`
installs) with a profile of its own: it loads without console errors, and the numbers it
shows are the node's metrics after known traffic."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

from edge_server import TOKEN, EdgeServer, request
from origin_server import OriginServer
from prometheus_client.parser import text_string_to_metric_families
from test_edge import mount, origin  # noqa: F401 - the origin fixture

SCREENSHOT = Path(__file__).resolve().parent.parent / ".fallthrough-test-output" / "dashboard.png"


class Texts(HTMLParser):
    """The text of every element with an id, and the rows of the purges table."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self._open: list[str | None] = []
        self.purge_rows: list[list[str]] = []
        self._in_purges = False
        self._row: list[str] | None = None
        self._cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        self._open.append(ident)
        if ident is not None:
            self.by_id.setdefault(ident, "")
        if ident == "purges":
            self._in_purges = True
        if self._in_purges and tag == "tr":
            self._row = []
        if self._in_purges and tag == "td" and self._row is not None:
            self._row.append("")
            self._cell = True

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            ident = self._open.pop()
            if ident == "purges":
                self._in_purges = False
        if tag == "tr" and self._row is not None:
            self.purge_rows.append(self._row)
            self._row = None
        if tag == "td":
            self._cell = False

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident is not None:
                self.by_id[ident] += data
        if self._cell and self._row is not None:
            self._row[-1] += data


def _chromium(profile: Path, url: str, *extra: str) -> tuple[str, str]:
    binary = shutil.which("chromium")
    assert binary is not None, "Debian's chromium is needed (make test installs it)"
    result = subprocess.run(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=7000", "--window-size=1280,1150", *extra, url],
        capture_output=True, text=True, timeout=120,
    )
    return result.stdout, result.stderr


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _metrics(server: EdgeServer) -> dict[str, float]:
    reply = request(server.url + "/_fallthrough/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status == 200
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            key = sample.name + "".join(f"|{k}={v}" for k, v in sorted(sample.labels.items())
                                        if k in ("cache",))
            totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def test_the_dashboard_shows_the_node_as_its_metrics_do(tmp_path: Path, origin: OriginServer) -> None:
    for i in range(3):
        origin.put(f"/d{i}", bytes([i]) * 5000, headers={"Cache-Control": "max-age=600"})
    with EdgeServer(tmp_path, mount(origin.url), workers=2, store='max_bytes = "64MiB"') as server:
        for i in range(3):
            assert server.get(f"/o/d{i}").header("x-cache") == "MISS"
        server.wait_idle()
        for _ in range(3):
            for i in range(3):
                assert server.get(f"/o/d{i}").header("x-cache") == "HIT"
        assert server.get("/o/missing").status == 404
        assert server.purge(url="/o/d0").status == 200
        assert server.purge(tag="fruit").status == 200
        time.sleep(1.5)  # every worker folds its counts once a second
        expected = _metrics(server)

        # Without the token the page says so and asks for it; nothing fails in the page.
        dom, stderr = _chromium(tmp_path / "profile-a", f"{server.url}/_fallthrough/", "--dump-dom")
        page = Texts()
        page.feed(dom)
        assert "admin token is needed" in page.by_id["state"]
        assert _console(stderr) == []

        url = f"{server.url}/_fallthrough/#token={TOKEN}"
        dom, stderr = _chromium(tmp_path / "profile-b", url, "--dump-dom")
        assert _console(stderr) == [], _console(stderr)
        page = Texts()
        page.feed(dom)
        assert page.by_id["state"] == "live"
        requests = sum(v for k, v in expected.items() if k.startswith("fallthrough_requests_total|"))
        assert int(page.by_id["requests-total"]) == requests
        served = expected["fallthrough_requests_total|cache=hit"]
        cacheable = served + expected.get("fallthrough_requests_total|cache=miss", 0)
        assert page.by_id["hit-ratio-total"] == f"{100 * served / cacheable:.1f} %"
        assert int(page.by_id["origin-requests"]) == expected["fallthrough_origin_requests_total"] == 4
        assert int(page.by_id["fills"]) == expected["fallthrough_fills_in_flight"] == 0
        assert "64.0 MiB" in page.by_id["tiers"]  # the disk tier against its budget
        kinds = [row[1] for row in page.purge_rows if len(row) == 3]
        assert kinds == ["tag", "url"]  # newest first
        assert [row[2] for row in page.purge_rows] == ["fruit", "/o/d0"]

        SCREENSHOT.parent.mkdir(exist_ok=True)
        _, stderr = _chromium(tmp_path / "profile-c", url, f"--screenshot={SCREENSHOT}")
        assert _console(stderr) == []
        assert SCREENSHOT.stat().st_size > 20_000  # a page drawn, not a blank one


def test_the_dashboard_page_loads_nothing_from_elsewhere(tmp_path: Path, origin: OriginServer) -> None:
    with EdgeServer(tmp_path, mount(origin.url)) as server:
        reply = request(server.url + "/_fallthrough/")
        assert reply.status == 200 and reply.header("content-type").startswith("text/html")
        assert "default-src 'self'" in reply.header("content-security-policy")
        html = reply.body.decode()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
        purges = request(server.url + "/_fallthrough/purges")
        assert purges.status == 401  # the data is behind the token, as the metrics are
        assert json.loads(request(server.url + "/_fallthrough/purges",
                                  headers={"Authorization": f"Bearer {TOKEN}"}).body) == {"purges": []}
