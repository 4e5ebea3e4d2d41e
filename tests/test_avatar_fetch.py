"""The `d=URL` fetcher against real HTTP servers on loopback.

No public address exists offline, so the positive cases use a policy that treats one
loopback address (127.0.0.2) as if it were public and a resolver that maps test names to
it; every other loopback address stays private, which is what the refusals lean on. The
servers also record what reached them, so a refusal can be shown to have happened before
any request was sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.transforms.avatars.fetch import (
    MAX_REDIRECTS,
    DefaultFailed,
    DefaultPolicy,
    DefaultRefused,
    check_url,
    fetch_default,
    is_public,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
STAND_IN = ipaddress.IPv4Address("127.0.0.2")
LIMIT = 1000


def as_if_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """The test's internet: 127.0.0.2 plays a public host, everything else is judged as usual."""
    return ip == STAND_IN or is_public(ip)


@dataclass
class Seen:
    local: str
    path: str
    headers: dict[str, str]


@dataclass
class Images:
    """The image servers: the app on 127.0.0.2 and on 127.0.0.1, and a port that never answers."""

    port: int
    loopback_port: int
    silent_port: int
    seen: list[Seen] = field(default_factory=list)

    def url(self, path: str, host: str = "img.test") -> str:
        return f"http://{host}:{self.port}{path}"

    async def dns(self, host: str, port: int) -> list[str]:
        table = {"img.test": ["127.0.0.2"], "other.test": ["127.0.0.2"], "evil.test": ["10.1.2.3"],
                 "mixed.test": ["127.0.0.2", "127.0.0.1"]}
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown test name")
        return table[host]

    def policy(self, **changes: Any) -> DefaultPolicy:
        base = DefaultPolicy(hosts=("img.test",), limit=LIMIT, timeout=2.0, address_allowed=as_if_public,
                             resolve=self.dns, ports=(self.port, self.loopback_port, self.silent_port))
        return replace(base, **changes)


def _bound(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 0))
    return sock


def _app(images: Callable[[], Images]) -> web.Application:
    """The routes; `images` is read late because the Location headers need the bound ports."""

    @web.middleware
    async def record(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        local = request.transport.get_extra_info("sockname")[0] if request.transport else "?"
        images().seen.append(Seen(local, request.path, dict(request.headers)))
        return await handler(request)

    def redirect(location: str) -> web.Response:
        return web.Response(status=302, headers={"Location": location})

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def relative(request: web.Request) -> web.Response:
        response = redirect("/img.png")
        response.set_cookie("session", "secret")
        return response

    async def to_loopback(request: web.Request) -> web.Response:
        return redirect(f"http://127.0.0.1:{images().loopback_port}/img.png")

    async def to_other(request: web.Request) -> web.Response:
        return redirect(images().url("/img.png", host="other.test"))

    async def chain(request: web.Request) -> web.Response:
        left = int(request.match_info["n"])
        return redirect(f"/chain/{left - 1}") if left > 0 else await image(request)

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (LIMIT + 1), content_type="image/png")

    async def big_chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(5):
            await response.write(b"x" * (LIMIT // 4))
        await response.write_eof()
        return response

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    app = web.Application(middlewares=[record])
    app.router.add_get("/img.png", image)
    app.router.add_get("/relative", relative)
    app.router.add_get("/to-loopback", to_loopback)
    app.router.add_get("/to-other", to_other)
    app.router.add_get("/chain/{n}", chain)
    app.router.add_get("/big", big)
    app.router.add_get("/big-chunked", big_chunked)
    app.router.add_get("/page", page)
    return app


@pytest.fixture
async def images() -> AsyncIterator[Images]:
    main, loopback, silent = _bound("127.0.0.2"), _bound("127.0.0.1"), _bound("127.0.0.2")
    silent.listen(8)  # the kernel completes handshakes; nobody ever reads or answers
    servers = Images(main.getsockname()[1], loopback.getsockname()[1], silent.getsockname()[1])
    runner = web.AppRunner(_app(lambda: servers), shutdown_timeout=0.1)
    await runner.setup()
    for sock in (main, loopback):
        await web.SockSite(runner, sock).start()
    try:
        yield servers
    finally:
        await runner.cleanup()
        silent.close()


# ---- check_url: what is refused from the text alone ------------------------------------------

ANY_HOST = DefaultPolicy(hosts=("*",))
SOME_HOSTS = DefaultPolicy(hosts=("*.example.com", "img.example.org", "bücher.example"))

REFUSED_ANYWHERE = [
    "ftp://img.example.com/a.png", "file:///etc/passwd", "gopher://img.example.com/", "data:image/png;base64,AAAA",
    "javascript:alert(1)", "//img.example.com/a.png", "/a.png", "http:///a.png", "",
    "http://img.example.com:8080/a.png", "https://img.example.com:22/", "http://img.example.com:0/",
    "http://user:pw@img.example.com/a.png", "http://user@img.example.com/", "http://@img.example.com/",
    "http://127.0.0.1/", "http://[::1]/", "http://10.0.0.1/", "http://192.168.1.1/", "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://0.0.0.0/", "http://[::]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/", "http://[2002:7f00:1::]/", "http://[64:ff9b::a00:1]/", "http://224.0.0.1/",
    "http://2130706433/", "http://0x7f.0.0.1/", "http://017700000001/", "http://0x7f000001/", "http://127.1/",
    "http://0/", "http://1.2.3.4.5/", "http://0177.0.0.1/", "http://127.000.0.1/", "http://a..b/",
    "http://img.example.com/" + "a" * 2048,
    "http://img.example.com/a b.png", "http://img.example.com/a\r\nX-Injected: 1", "http://img.example.com/\n",
    "http://img.example.com/\t", " http://img.example.com/", "http://img.example.com\\@evil.test/",
    "http://img.example.com\x00.evil.test/", "http://%31%32%37.0.0.1/", "http://img.example.com/\u00a0",
    "http://img.exa\u200bmple.com/", "http://img.example.com/\u202egnp.exe",
]


@pytest.mark.parametrize("url", REFUSED_ANYWHERE)
@pytest.mark.parametrize("policy", [ANY_HOST, SOME_HOSTS], ids=["any-host", "some-hosts"])
def test_check_url_refuses(url: str, policy: DefaultPolicy) -> None:
    with pytest.raises(DefaultRefused) as caught:
        check_url(url, policy)
    assert isinstance(caught.value, ValueError)
    assert caught.value.message and "\n" not in caught.value.message and "\r" not in caught.value.message


def test_a_literal_address_is_refused_for_its_address_not_its_spelling() -> None:
    for url in ("http://127.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/"):
        with pytest.raises(DefaultRefused, match="not public"):
            check_url(url, ANY_HOST)


@pytest.mark.parametrize("url", [
    "http://example.com/a.png", "http://evil-example.com/a.png", "http://example.com.evil.test/",
    "http://img.example.org.evil.test/", "http://evil.test/", "http://xexample.com/", "https://8.8.8.8/a.png",
])
def test_hosts_outside_the_allow_list_are_refused(url: str) -> None:
    with pytest.raises(DefaultRefused, match="not allowed"):
        check_url(url, SOME_HOSTS)


def test_an_empty_allow_list_allows_nothing() -> None:
    with pytest.raises(DefaultRefused):
        check_url("https://img.example.com/a.png", DefaultPolicy(hosts=()))


@pytest.mark.parametrize(("url", "normal"), [
    ("https://a.example.com/a.png", "https://a.example.com/a.png"),
    ("HTTP://A.B.Example.COM./a.png?s=80#top", "http://a.b.example.com/a.png?s=80"),
    ("http://img.example.org:80/a.png", "http://img.example.org/a.png"),
    ("http://img.example.org:443/a.png", "http://img.example.org:443/a.png"),
    ("http://BÜCHER.example/ä.png", "http://xn--bcher-kva.example/%C3%A4.png"),
    ("http://xn--bcher-kva.example/a.png", "http://xn--bcher-kva.example/a.png"),
])
def test_allowed_urls_come_back_normalised(url: str, normal: str) -> None:
    assert check_url(url, SOME_HOSTS) == normal


def test_public_literals_pass_when_every_host_is_allowed() -> None:
    assert check_url("https://8.8.8.8/a.png", ANY_HOST) == "https://8.8.8.8/a.png"
    assert check_url("http://[2606:4700::1111]/a.png", ANY_HOST) == "http://[2606:4700::1111]/a.png"


@pytest.mark.parametrize("pattern", ["a.*.com", "*example.com", "**", "", "exa mple.com", "127.1"])
def test_malformed_host_patterns_are_a_configuration_error(pattern: str) -> None:
    with pytest.raises(ValueError):
        DefaultPolicy(hosts=(pattern,))


# ---- is_public ---------------------------------------------------------------------------------

NOT_PUBLIC_V4 = [ipaddress.IPv4Network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
    "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
    "198.18.0.0/15", "192.0.0.0/24",
)]
NOT_PUBLIC_V6 = [ipaddress.IPv6Network(n) for n in (
    "fc00::/7", "fe80::/10", "::1/128", "::/128", "ff00::/8", "2001:db8::/32", "fec0::/10", "::/96",
)]


def _member(networks: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(networks).flatmap(
        lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net.network_address + i))


@given(_member(NOT_PUBLIC_V4))
def test_private_ipv4_and_every_ipv6_wrapping_of_it_is_not_public(ip: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80))
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))
    for form in (ip, mapped, sixtofour, nat64):
        assert not is_public(form), form
    assert not is_public(str(ip))


@given(_member(NOT_PUBLIC_V6))
def test_private_ipv6_is_not_public(ip: ipaddress.IPv6Address) -> None:
    assert not is_public(ip)


@pytest.mark.parametrize("address", [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "2001:4860:4860::8888",
    "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
])
def test_known_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


# ---- fetching: names that resolve somewhere private ------------------------------------------

async def test_localhost_through_the_system_resolver_is_refused(images: Images) -> None:
    policy = DefaultPolicy(hosts=("localhost",), ports=(images.port,))
    with pytest.raises(DefaultRefused, match="not public"):
        await fetch_default(f"http://localhost:{images.port}/img.png", policy)
    assert images.seen == []


@pytest.mark.parametrize("name", ["evil.test", "mixed.test"])
async def test_any_private_answer_refuses_the_name(images: Images, name: str) -> None:
    policy = images.policy(hosts=(name,))
    with pytest.raises(DefaultRefused, match="not public"):
        await fetch_default(images.url("/img.png", host=name), policy)
    assert images.seen == []


async def test_a_name_that_does_not_resolve_fails(images: Images) -> None:
    with pytest.raises(DefaultFailed, match="resolved"):
        await fetch_default(images.url("/img.png", host="nowhere.test"), images.policy(hosts=("*",)))


# ---- fetching: the good path and redirects -------------------------------------------------------

async def test_an_image_comes_back(images: Images) -> None:
    assert await fetch_default(images.url("/img.png"), images.policy()) == (PNG, "image/png")
    assert [(s.local, s.path) for s in images.seen] == [("127.0.0.2", "/img.png")]


async def test_a_relative_redirect_is_followed_without_cookies_or_credentials(images: Images) -> None:
    assert await fetch_default(images.url("/relative"), images.policy()) == (PNG, "image/png")
    assert [s.path for s in images.seen] == ["/relative", "/img.png"]
    for seen in images.seen:
        assert "Cookie" not in seen.headers and "Authorization" not in seen.headers


async def test_proxies_from_the_environment_are_ignored(images: Images, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{images.silent_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert await fetch_default(images.url("/img.png"), images.policy()) == (PNG, "image/png")


async def test_a_redirect_to_a_loopback_address_is_refused(images: Images) -> None:
    policy = images.policy(hosts=("*",))  # only the address rule stands in the way
    with pytest.raises(DefaultRefused, match="not public"):
        await fetch_default(images.url("/to-loopback"), policy)
    assert [s.local for s in images.seen] == ["127.0.0.2"]


async def test_a_redirect_to_a_host_not_allowed_is_refused(images: Images) -> None:
    with pytest.raises(DefaultRefused, match="not allowed"):
        await fetch_default(images.url("/to-other"), images.policy())
    assert [s.path for s in images.seen] == ["/to-other"]


async def test_at_most_three_redirects_are_followed(images: Images) -> None:
    policy = images.policy()
    assert await fetch_default(images.url(f"/chain/{MAX_REDIRECTS}"), policy) == (PNG, "image/png")
    with pytest.raises(DefaultRefused, match="redirected more than"):
        await fetch_default(images.url(f"/chain/{MAX_REDIRECTS + 1}"), policy)


# ---- fetching: the peer actually connected to --------------------------------------------------

async def test_the_connected_peer_is_checked_after_connecting(images: Images) -> None:
    """An address that is allowed when the name is looked up and not afterwards (a rebind
    stand-in): the refusal can only come from looking at the socket, before the request."""
    asked: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()

    def first_time_only(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        again = ip in asked
        asked.add(ip)
        return as_if_public(ip) and not again

    with pytest.raises(DefaultRefused, match="connected address"):
        await fetch_default(images.url("/img.png"), images.policy(address_allowed=first_time_only))
    assert asked == {STAND_IN}
    assert images.seen == []


async def test_the_name_is_resolved_once_and_the_answer_pinned(images: Images) -> None:
    """A DNS server that answers private the second time never gets a second question."""
    questions: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        questions.append(host)
        return ["127.0.0.2"] if len(questions) == 1 else ["127.0.0.1"]

    assert await fetch_default(images.url("/img.png"), images.policy(resolve=rebinding)) == (PNG, "image/png")
    assert questions == ["img.test"]
    assert [s.local for s in images.seen] == ["127.0.0.2"]


# ---- fetching: what the answer must be -------------------------------------------------------------

@pytest.mark.parametrize(("path", "reason"), [
    ("/big", "larger than"), ("/big-chunked", "larger than"), ("/page", "not an image"), ("/missing", "404"),
])
async def test_bad_answers_fail(images: Images, path: str, reason: str) -> None:
    with pytest.raises(DefaultFailed, match=reason) as caught:
        await fetch_default(images.url(path), images.policy())
    assert "\n" not in caught.value.message


async def test_a_server_that_never_answers_fails_within_the_timeout(images: Images) -> None:
    started = time.monotonic()
    with pytest.raises(DefaultFailed):
        await fetch_default(f"http://img.test:{images.silent_port}/img.png", images.policy(timeout=0.5))
    assert time.monotonic() - started < 1.5


async def test_check_url_runs_before_any_network_work(images: Images) -> None:
    with pytest.raises(DefaultRefused):
        await fetch_default(f"http://127.0.0.1:{images.loopback_port}/img.png", images.policy(hosts=("*",)))
    await asyncio.sleep(0)
    assert images.seen == []
