"""Fetching a caller-chosen default image (`d=URL`) without becoming a proxy into our own network.

The edge sits next to things a stranger must never reach: metadata services, admin ports,
object stores on private addresses. A `d=` URL makes the server fetch whatever a caller
names, so every step that could lead somewhere else is vetted, not just the first:

- `check_url` refuses, before any work, what can be judged from the text alone: a scheme
  other than http/https, a port outside the policy's list, userinfo, a host the policy does
  not allow, an address literal that is not public, and numeric host spellings that some
  resolvers read as addresses (`2130706433`, `0x7f.1`) although they look like names.
- `fetch_default` resolves the host once, refuses if ANY answer is not public (one private
  answer is enough for a connection to land there), and pins the vetted answers in the
  connector's resolver, so a second lookup (a DNS rebind between check and connect) never
  happens. Before the request is written, the address the socket is really connected to is
  checked again, so a mistake anywhere above still cannot send a request to a bad peer.
- Redirects are followed here, at most `MAX_REDIRECTS`, each hop vetted like the first.
- The answer must be 200, an image type we can decode, and no larger than the policy's
  limit; the whole exchange has one deadline. No cookies, credentials or proxies from the
  environment travel with the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_reqrep import ClientRequest, ClientResponse
from aiohttp.connector import Connection
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"})
SCHEMES = ("http", "https")
_READ_CHUNK = 64 * 1024
_HEADERS = {
    "Accept": "image/avif,image/webp,image/png,image/jpeg,image/gif",
    # Images gain nothing from transfer compression, and asking for none keeps a small
    # compressed body from unfolding into a large one before the size limit sees it.
    "Accept-Encoding": "identity",
    "User-Agent": "fallthrough-avatars/1",
}

# Ranges no image host lives in, listed here as well because `ipaddress`'s own tables change
# between Python releases (some call IETF protocol assignments, the retired 6to4 relay
# anycast, site-local or the newer IPv6 documentation prefix global).
_NEVER_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15",
    "fec0::/10", "3fff::/20", "2001:db8::/32",
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class _OneLine:
    """A message a user can be shown: whitespace folded so it stays one line."""

    message: str

    def _set(self, message: str) -> str:
        self.message = " ".join(str(message).split())
        return self.message


class DefaultRefused(_OneLine, ValueError):
    """The URL may not be fetched at all: a 400, never worth retrying."""

    def __init__(self, message: str) -> None:
        super().__init__(self._set(message))


class DefaultFailed(_OneLine, Exception):
    """The URL was allowed but fetching it failed; it may work another time."""

    def __init__(self, message: str) -> None:
        super().__init__(self._set(message))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form really delivers to, when it is only a wrapper.

    A mapped address (`::ffff:a.b.c.d`) and a NAT64 address (`64:ff9b::a.b.c.d`) reach the
    IPv4 address itself, so they are as public as it is, no more and no less.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def _tunnels_to_private(ip: ipaddress.IPv6Address) -> bool:
    """Whether a 6to4 or Teredo address carries an IPv4 end that is not public."""
    ends: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        ends.append(ip.sixtofour)
    if ip.teredo is not None:
        ends.extend(ip.teredo)
    return any(not is_public(end) for end in ends)


def _plainly_global(ip: IPAddress) -> bool:
    """Global by every test `ipaddress` offers, and outside the ranges it is lenient about."""
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    if ip.is_loopback or ip.is_link_local or ip.is_private:
        return False
    return not any(ip.version == net.version and ip in net for net in _NEVER_PUBLIC)


def is_public(address: IPAddress | str) -> bool:
    """Whether connecting to `address` leaves for the public internet.

    Wrapped forms are judged by what they carry, so `::ffff:127.0.0.1` or a 6to4 address
    around 10.0.0.1 cannot pass as an ordinary global IPv6 address.
    """
    ip = address if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address) \
        else ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return _plainly_global(inner)
        if _tunnels_to_private(ip):
            return False
    return _plainly_global(ip)


async def _system_resolve(host: str, port: int) -> list[str]:
    """The addresses the operating system gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _literal_address(host: str) -> IPAddress | None:
    """The address a host spells, if it is an address literal; None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal_name(text: str) -> str:
    """A host name as it is compared: IDNA (as the URL parser encodes it), lower case, no trailing dot.

    Names whose last label is a number are refused outright: the URL standard and C
    resolvers read `127.1`, `2130706433` or `0x7f.0.0.1` as IPv4 addresses, so treating
    them as names would let an address past the address checks.
    """
    try:
        encoded = URL.build(scheme="http", host=text).raw_host or ""
    except (ValueError, UnicodeError):
        raise ValueError(f"{text!a} is not a host name") from None
    name = encoded.lower().removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{text!a} is not a host name")
    if _NUMBER_LABEL.fullmatch(labels[-1]):
        raise ValueError(f"{text!a} is a numeric host that is not a plain dotted IPv4 address")
    return name


def _normal_host(text: str) -> str:
    """A host (name or address literal) in the one form used for comparing and pinning."""
    literal = _literal_address(text.removeprefix("[").removesuffix("]"))
    if literal is not None:
        if isinstance(literal, ipaddress.IPv6Address) and literal.scope_id:
            raise ValueError("an address with a zone is never public")
        return str(literal)
    return _normal_name(text)


def _normal_pattern(pattern: str) -> str:
    """A configured host pattern in the form `_host_allowed` compares with."""
    text = pattern.strip()
    if text == "*":
        return text
    if text.startswith("*."):
        return "*." + _normal_name(text[2:])
    if "*" in text:
        raise ValueError(f"host pattern {pattern!a}: only '*' or a leading '*.' may be used")
    return _normal_host(text)


def _host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """Whether a normalised host matches a pattern; `*.x` means strictly below x, never x itself."""
    for pattern in patterns:
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


@dataclass(frozen=True)
class DefaultPolicy:
    """What an operator allows `d=` to reach.

    `hosts` holds exact names, `*.example.com` (subdomains only) or `*` (any host; its
    addresses are still vetted); empty allows nothing. `ports` exists for tests (which run
    image servers on high loopback ports) and for operators whose image host listens on
    another port; it is otherwise left at 80 and 443. `address_allowed` and `resolve` let
    tests play the public internet and DNS on loopback; production keeps the defaults.
    """

    hosts: tuple[str, ...]
    limit: int = 5 * 1024 * 1024
    timeout: float = 10.0
    address_allowed: Callable[[IPAddress], bool] = is_public
    resolve: Callable[[str, int], Awaitable[list[str]]] | None = None
    ports: tuple[int, ...] = (80, 443)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", tuple(_normal_pattern(p) for p in self.hosts))
        object.__setattr__(self, "ports", tuple(self.ports))
        if self.limit <= 0 or self.timeout <= 0:
            raise ValueError("limit and timeout must be positive")
        if not all(0 < port < 65536 for port in self.ports):
            raise ValueError("ports must lie in 1..65535")


def _parse(url: str) -> URL:
    """The URL parsed by the same parser the HTTP client uses, so both see the same host."""
    if not isinstance(url, str):
        raise DefaultRefused("the default image URL must be text")
    if len(url) > MAX_URL_LENGTH:
        raise DefaultRefused(f"the default image URL is longer than {MAX_URL_LENGTH} characters")
    # Spaces, controls and invisible format characters have no place in a URL we log and
    # fetch; a backslash is read as a slash by some parsers and not by others.
    if any(ch == "\\" or ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in url):
        raise DefaultRefused("the default image URL contains spaces, control characters or backslashes")
    try:
        parsed = URL(url)
        authority = urlsplit(url).netloc
    except (ValueError, UnicodeError):
        raise DefaultRefused("the default image URL cannot be parsed") from None
    # The parser quietly drops an empty userinfo (`http://@host/`); the text still had one.
    if "@" in authority:
        raise DefaultRefused("the default image URL may not carry a user name or password")
    return parsed


def _check_authority(parsed: URL, policy: DefaultPolicy) -> str:
    """The URL's normalised host, after the checks on scheme, userinfo, port and host."""
    if parsed.scheme not in SCHEMES:
        raise DefaultRefused("the default image URL must be http or https")
    if not parsed.absolute or not parsed.raw_host:
        raise DefaultRefused("the default image URL has no host")
    if "@" in (parsed.raw_authority or "") or parsed.raw_user is not None or parsed.raw_password is not None:
        raise DefaultRefused("the default image URL may not carry a user name or password")
    if parsed.port not in policy.ports:
        raise DefaultRefused(f"the default image URL must use port {' or '.join(map(str, policy.ports))}")
    try:
        host = _normal_host(parsed.raw_host or "")
    except ValueError as exc:
        raise DefaultRefused(f"the default image host is refused: {exc}") from None
    if not _host_allowed(host, policy.hosts):
        raise DefaultRefused(f"the host {host} is not allowed for default images")
    literal = _literal_address(host)
    if literal is not None and not policy.address_allowed(literal):
        raise DefaultRefused("the default image URL names an address that is not public")
    return host


def check_url(url: str, policy: DefaultPolicy) -> str:
    """Everything about a `d=` URL that can be judged without the network; the normalised URL.

    It runs when a request is parsed, so a bad URL is a 400 before any work starts; the
    fetch runs it again on every redirect hop.
    """
    parsed = _parse(url)
    host = _check_authority(parsed, policy)
    literal = _literal_address(host)
    normal = parsed.with_fragment(None)
    if literal is None and parsed.raw_host != host:
        normal = normal.with_host(host)
    text = str(normal)
    if len(text) > MAX_URL_LENGTH:
        raise DefaultRefused(f"the default image URL is longer than {MAX_URL_LENGTH} characters")
    return text


class _PinnedResolver(AbstractResolver):
    """The connector's only resolver: it answers with addresses already vetted, nothing else.

    The connector would otherwise look the name up again when it connects, and that second
    answer is the one a rebinding DNS server would make private.
    """

    def __init__(self) -> None:
        self._pins: dict[str, tuple[IPAddress, ...]] = {}

    def pin(self, host: str, addresses: tuple[IPAddress, ...]) -> None:
        self._pins[host] = addresses

    def pinned(self, host: str) -> tuple[IPAddress, ...]:
        return self._pins.get(host, ())

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        wanted = {socket.AF_INET: 4, socket.AF_INET6: 6}.get(family)
        answers: list[ResolveResult] = [
            {"hostname": host, "host": str(ip), "port": port,
             "family": socket.AF_INET if ip.version == 4 else socket.AF_INET6,
             "proto": 0, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}
            for ip in self.pinned(host.lower().removesuffix("."))
            if wanted is None or ip.version == wanted
        ]
        if not answers:
            raise OSError(f"{host} has no vetted address")
        return answers

    async def close(self) -> None:
        return None


def _peer_address(connection: Connection) -> IPAddress | None:
    """The address the connection's socket is connected to, as the kernel reports it."""
    transport = connection.transport
    peer: Any = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        return None
    try:
        return _unmapped(ipaddress.ip_address(str(peer[0]).split("%", 1)[0]))
    except ValueError:
        return None


def _unmapped(ip: IPAddress) -> IPAddress:
    """One spelling per destination: a socket may report an IPv4 peer in its mapped IPv6 form."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _vetting_request(policy: DefaultPolicy, pins: _PinnedResolver) -> type[ClientRequest]:
    """A request class that checks the socket's peer before a byte of the request is written.

    A client hook at this point sees the live connection whatever happens to the response
    later (a small answer releases its connection before the caller could look at it).
    """

    class VettingRequest(ClientRequest):
        async def send(self, conn: Connection) -> ClientResponse:
            peer = _peer_address(conn)
            host = _normal_host(self.url.raw_host or "")
            vetted = {_unmapped(ip) for ip in pins.pinned(host)}
            if peer is None or peer not in vetted or not policy.address_allowed(peer):
                raise DefaultRefused(f"the connected address for {host} is not public")
            return await super().send(conn)

    return VettingRequest


async def _vetted_addresses(host: str, port: int, policy: DefaultPolicy) -> tuple[IPAddress, ...]:
    """Every address `host` resolves to, each vetted; refused if any one is not allowed."""
    literal = _literal_address(host)
    if literal is not None:
        return (literal,)  # check_url has vetted it already
    resolve = policy.resolve or _system_resolve
    try:
        answers = await resolve(host, port)
    except OSError:
        raise DefaultFailed(f"the default image host {host} could not be resolved") from None
    try:
        addresses = tuple(dict.fromkeys(ipaddress.ip_address(a.split("%", 1)[0]) for a in answers))
    except ValueError:
        raise DefaultRefused(f"the default image host {host} resolves to something that is not an address") from None
    if not addresses:
        raise DefaultFailed(f"the default image host {host} has no address")
    if not all(policy.address_allowed(ip) for ip in addresses):
        raise DefaultRefused(f"the default image host {host} resolves to an address that is not public")
    return addresses


def _next_hop(current: URL, response: ClientResponse, policy: DefaultPolicy) -> URL:
    """Where a redirect points, vetted like a URL a caller gave."""
    location = response.headers.get("Location")
    if not location:
        raise DefaultFailed(f"the default image redirected ({response.status}) without a Location")
    try:
        target = str(current.join(URL(location)))
    except (ValueError, UnicodeError):
        raise DefaultRefused("the default image redirected to a URL that cannot be parsed") from None
    try:
        return URL(check_url(target, policy), encoded=True)
    except DefaultRefused as exc:
        raise DefaultRefused(f"the default image redirected to a refused URL: {exc.message}") from None


async def _read_image(response: ClientResponse, policy: DefaultPolicy) -> tuple[bytes, str]:
    """The body of a 200 image answer, read no further than the limit."""
    if response.status != 200:
        raise DefaultFailed(f"the default image answered HTTP {response.status}")
    content_type = response.content_type.lower()
    if content_type not in IMAGE_TYPES:
        raise DefaultFailed(f"the default image is not an image we accept (Content-Type {content_type[:60]!a})")
    too_large = f"the default image is larger than {policy.limit} bytes"
    if response.content_length is not None and response.content_length > policy.limit:
        raise DefaultFailed(too_large)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > policy.limit:
            raise DefaultFailed(too_large)
    if not body:
        raise DefaultFailed("the default image is empty")
    return bytes(body), content_type


async def _follow(session: aiohttp.ClientSession, pins: _PinnedResolver, url: str,
                  policy: DefaultPolicy) -> tuple[bytes, str]:
    """Fetch `url`, following and vetting redirects ourselves."""
    current = URL(url, encoded=True)
    for _ in range(MAX_REDIRECTS + 1):
        host = _normal_host(current.raw_host or "")
        pins.pin(host, await _vetted_addresses(host, current.port or 0, policy))
        async with session.get(current, allow_redirects=False, headers=_HEADERS) as response:
            if response.status not in REDIRECT_STATUSES:
                return await _read_image(response, policy)
            current = _next_hop(current, response, policy)
    raise DefaultRefused(f"the default image redirected more than {MAX_REDIRECTS} times")


def _session(policy: DefaultPolicy, pins: _PinnedResolver) -> aiohttp.ClientSession:
    """A session that can only reach pinned addresses and carries nothing of ours."""
    connector = aiohttp.TCPConnector(resolver=pins, use_dns_cache=False, force_close=True)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        request_class=_vetting_request(policy, pins),
        timeout=aiohttp.ClientTimeout(total=policy.timeout),
        auto_decompress=True,
    )


def _failure(exc: BaseException) -> DefaultFailed:
    """A one-line account of a network failure."""
    detail = " ".join(str(exc).split())[:160]
    return DefaultFailed(f"fetching the default image failed: {type(exc).__name__}{': ' if detail else ''}{detail}")


async def fetch_default(url: str, policy: DefaultPolicy) -> tuple[bytes, str]:
    """The default image's bytes and content type; DefaultRefused or DefaultFailed otherwise."""
    target = check_url(url, policy)
    pins = _PinnedResolver()
    try:
        async with asyncio.timeout(policy.timeout), _session(policy, pins) as session:
            return await _follow(session, pins, target, policy)
    except (DefaultRefused, DefaultFailed):
        raise
    except TimeoutError:
        raise DefaultFailed(f"the default image took longer than {policy.timeout:g} s") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise _failure(exc) from None
