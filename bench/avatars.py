"""Generated avatars: the portrait renderer in process, through the server cold, and cached.

Every avatar is a procedural portrait (the default renderer of a `generator:avatar` mount)
sent as a JPEG; the hashes are MD5s of user{i}@example.com, a new one for every request
that must be drawn. Figures are medians of --repeat runs, every run shown beside them.

  - engine, in process: avatars/s drawn and encoded (portrait -> JPEG bytes) with 2 threads,
    the parallelism the server's [images] workers = 2 gives it, at 80 and at 512 px; the
    identicon at 80 px beside them for scale (a mirrored 5 x 5 grid: nearly free)
  - server, cold: avatars/s through `fallthrough serve` (1 worker, [images] workers = 2,
    queue 64) for --requests distinct hashes at 80 px (and half as many at 512 px), 4
    concurrent clients; every answer must be a 200 image/jpeg of the size asked that is
    not a cache hit. cold / engine is what the server keeps of the renderer's speed: near
    1.0 means drawing is the cost and the HTTP path, the cache fill and the pool are not
  - server, cached: wrk on one cached 80 px avatar vs wrk on a plain cached object of the
    same bytes on a file:// mount of the same server. An avatar hit is an ordinary hit,
    so this ratio should be about 1.0; well below would mean the avatar path does work on
    a hit (parsing, drawing, a lookup) that a plain object does not. Beside them, nginx
    serving the same bytes as a static file (1 worker): fallthrough / nginx is the price of
    the Python edge for a small hit, and the same on an avatar as on any other object

wrk and nginx are installed with apt-get when missing (root needed). On a machine with
other work running, the cold and cached figures move between runs: read the runs column.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

import aiohttp
import pyvips
from common import base_parser, median
from edge import NGINX, children, ensure_tools, free_port, launch_fallthrough, nginx_conf, wrk
from images import get, markdown, runs

from fallthrough.transforms.avatars.classic import render_classic
from fallthrough.transforms.avatars.portrait import render_portrait
from fallthrough.transforms.avatars.prompt import portrait
from fallthrough.transforms.images import encode

SIZES = (80, 512)  # the default avatar size and a large one
CACHED_SIZE = 80
THREADS = 2  # drawing threads in process and in fallthrough's image pool
QUEUE = 64
CLIENTS = 4  # concurrent requests for the cold figure
CONNECTIONS = 32  # wrk connections for the cached figure


def avatar_hash(i: int | str) -> str:
    """The MD5 of an e-mail address, as a client of an avatar service sends it."""
    return hashlib.md5(f"user{i}@example.com".encode()).hexdigest()


def draw_portrait(h: str, size: int) -> bytes:
    return encode(render_portrait(portrait(h), size), "jpeg", None)


def draw_identicon(h: str, size: int) -> bytes:
    return encode(render_classic("identicon", h, size), "jpeg", None)


def check_jpeg(body: bytes, content_type: str | None, size: int, what: str) -> None:
    """Every answer must really be the avatar asked for: a fast 404, an error page or the
    wrong size would make any figure meaningless."""
    if content_type != "image/jpeg" or body[:3] != b"\xff\xd8\xff":
        raise RuntimeError(f"{what}: expected an image/jpeg body, got {content_type} ({body[:16]!r})")
    image = pyvips.Image.new_from_buffer(body, "")
    if (image.width, image.height) != (size, size):
        raise RuntimeError(f"{what}: expected {size}x{size}, got {image.width}x{image.height}")


def engine_rate(draw: Callable[[str, int], bytes], size: int, count: int) -> float:
    """Avatars/s with THREADS threads over `count` distinct hashes."""
    hashes = [avatar_hash(i) for i in range(count)]
    with ThreadPoolExecutor(THREADS) as pool:
        draw(avatar_hash("warm"), size)  # the first call loads the SVG loader and the encoder
        started = time.perf_counter()
        results = list(pool.map(draw, hashes, [size] * count))
        seconds = time.perf_counter() - started
    assert all(results)
    return count / seconds


# -- servers (children of this script, each in its own process group) --------------------


def wait_ready(process: subprocess.Popen[bytes], port: int, what: str, timeout: float = 30) -> None:
    """Like edge.wait_port, but a child that dies on start (a config error) fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what}: nothing listens on {port} after {timeout:.0f} s")


def start_fallthrough(root: Path, port: int, processes: list[subprocess.Popen[bytes]]) -> None:
    launch_fallthrough(root, port, f"""[images]
workers = {THREADS}
queue = {QUEUE}
[[mount]]
url_prefix = "/avatar"
origin = "generator:avatar"
[[mount]]
url_prefix = "/files"
origin = "file://{root / 'files'}"
default_ttl = "1h"
""", processes=processes)


def start_nginx(root: Path, port: int, www: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    """edge.py's nginx settings (1 worker, sendfile, long keep-alive), serving `www`."""
    conf = nginx_conf(root, port, f"""
        server {{ listen 127.0.0.1:{port}; root {www};
                  types {{ image/jpeg jpg; }} }}""")
    process = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"], start_new_session=True)
    processes.append(process)
    wait_ready(process, port, "nginx")


# -- clients ----------------------------------------------------------------------------


async def _cold(urls: Sequence[str], size: int) -> float:
    queue = list(reversed(urls))
    failures: list[str] = []
    bodies: list[tuple[str, bytes, str | None]] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            url = queue.pop()
            async with session.get(url) as response:
                body = await response.read()
                content_type, x_cache = response.headers.get("Content-Type"), response.headers.get("X-Cache")
                if response.status != 200:
                    failures.append(f"{url}: {response.status} {body[:200]!r}")
                elif x_cache == "HIT":  # a hit would time the cache, not the drawing
                    failures.append(f"{url}: a cache hit, not a cold avatar")
                else:
                    bodies.append((url, body, content_type))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
        seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(urls)} avatars failed, first: {failures[0]}")
    for url, body, content_type in bodies:  # decoded after the clock stops: the client shares the CPUs
        check_jpeg(body, content_type, size, url)
    return len(urls) / seconds


def cold_rate(urls: Sequence[str], size: int) -> float:
    """Avatars/s for `urls`, CLIENTS at a time, every answer checked."""
    return asyncio.run(_cold(urls, size))


def cold_urls(base: str, size: int, run: int, count: int) -> list[str]:
    """`count` avatars never asked for before: run r takes users r*count .. (r+1)*count-1,
    and each size is a cache entry of its own."""
    return [f"{base}/avatar/{avatar_hash(run * count + i)}?s={size}" for i in range(count)]


# -- main -------------------------------------------------------------------------------


def _exit_on(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so the finally below stops the servers


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run (default 5)")
    parser.add_argument("--requests", type=int, default=200,
                        help="cold avatars per run at 80 px; half as many at 512 px (default 200)")
    parser.add_argument("--avatars", type=int, default=200, help="in-process avatars per run and size (default 200)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 repeat, 20 avatars, 20 + 10 cold requests, 1 s of wrk")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.avatars, args.requests, args.seconds = 1, 20, 20, 1
    small, large = args.requests, max(1, args.requests // 2)
    cold_counts = {SIZES[0]: small, SIZES[1]: large}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on)
    ensure_tools()
    pyvips.cache_set_max(0)  # a cached SVG load would time nothing
    for size in SIZES:
        check_jpeg(draw_portrait(avatar_hash("check"), size), "image/jpeg", size, f"portrait {size} px in process")
    check_jpeg(draw_identicon(avatar_hash("check"), 80), "image/jpeg", 80, "identicon in process")

    engine_runs: dict[str, list[float]] = {"portrait 80": [], "portrait 512": [], "identicon 80": []}
    for _ in range(args.repeat):
        for size in SIZES:
            engine_runs[f"portrait {size}"].append(engine_rate(draw_portrait, size, args.avatars))
        engine_runs["identicon 80"].append(engine_rate(draw_identicon, 80, args.avatars))
    print("engine (avatars/s): " + ", ".join(f"{k} px {runs(v)}" for k, v in engine_runs.items()), flush=True)

    root = Path(tempfile.mkdtemp(prefix="fallthrough-avatars-"))
    root.chmod(0o755)  # nginx's worker runs as nobody and must read www/
    with children(root) as processes:
        (root / "files").mkdir()
        www = root / "www"
        www.mkdir()
        ft_port, nginx_port = free_port(), free_port()
        start_fallthrough(root, ft_port, processes)
        base = f"http://127.0.0.1:{ft_port}"
        for size in SIZES:  # the server draws what the engine draws, before anything is timed
            url = f"{base}/avatar/{avatar_hash('check')}?s={size}"
            status, body, content_type, _ = get(url)
            if status != 200:
                raise RuntimeError(f"{url} answered {status}: {body[:200]!r}")
            check_jpeg(body, content_type, size, url)
            if body != draw_portrait(avatar_hash("check"), size):
                raise RuntimeError(f"{url}: not the bytes the renderer draws in process")

        cold_runs: dict[int, list[float]] = {size: [] for size in SIZES}
        for run in range(args.repeat):
            for size in SIZES:
                cold_runs[size].append(cold_rate(cold_urls(base, size, run, cold_counts[size]), size))
        print("cold (avatars/s): " + ", ".join(f"{s} px {runs(v)}" for s, v in cold_runs.items()), flush=True)

        avatar_url = f"{base}/avatar/{avatar_hash('cached')}?s={CACHED_SIZE}"
        status, avatar, content_type, _ = get(avatar_url)
        if status != 200:
            raise RuntimeError(f"{avatar_url} answered {status}: {avatar[:200]!r}")
        check_jpeg(avatar, content_type, CACHED_SIZE, avatar_url)
        (root / "files" / "avatar.jpg").write_bytes(avatar)  # the same bytes: same size, same type
        (www / "avatar.jpg").write_bytes(avatar)
        start_nginx(root, nginx_port, www, processes)
        urls = {"avatar": avatar_url, "plain": f"{base}/files/avatar.jpg",
                "nginx": f"http://127.0.0.1:{nginx_port}/avatar.jpg"}
        for what, url in urls.items():
            for _ in range(2):  # fill (the avatar is filled already), then one hit to warm
                status, body, content_type, x_cache = get(url)
            if status != 200 or body != avatar:
                raise RuntimeError(f"{what}: {url} answered {status} with {len(body)} B, not the avatar")
            check_jpeg(body, content_type, CACHED_SIZE, url)
            if what != "nginx" and x_cache != "HIT":
                raise RuntimeError(f"{what}: {url} is not a cached hit (X-Cache {x_cache})")
        hit_runs: dict[str, list[float]] = {what: [] for what in urls}
        for _ in range(args.repeat):
            for what, url in urls.items():
                hit_runs[what].append(wrk(url, CONNECTIONS, args.seconds)[0])
        print("cached (req/s): " + ", ".join(f"{k} {runs(v, 0)}" for k, v in hit_runs.items()), flush=True)

    engine = {k: median(v) for k, v in engine_runs.items()}
    cold = {k: median(v) for k, v in cold_runs.items()}
    hits = {k: median(v) for k, v in hit_runs.items()}
    rows = [
        [f"engine: portrait {size} px -> JPEG, {THREADS} threads, {args.avatars} hashes (avatars/s)",
         f"{engine[f'portrait {size}']:,.1f}", runs(engine_runs[f"portrait {size}"])] for size in SIZES
    ] + [
        [f"engine: identicon 80 px -> JPEG, {THREADS} threads, for scale (avatars/s)",
         f"{engine['identicon 80']:,.1f}", runs(engine_runs["identicon 80"])],
    ] + [
        [f"server, cold: {cold_counts[size]} new portraits at {size} px, {CLIENTS} clients (avatars/s)",
         f"{cold[size]:,.1f}", runs(cold_runs[size])] for size in SIZES
    ] + [
        [f"server, cached: one {CACHED_SIZE} px avatar, {len(avatar):,} B (req/s)", f"{hits['avatar']:,.0f}",
         runs(hit_runs["avatar"], 0)],
        ["server, cached: the same bytes as a plain file:// object (req/s)", f"{hits['plain']:,.0f}",
         runs(hit_runs["plain"], 0)],
        ["nginx: the same bytes as a static file, 1 worker (req/s)", f"{hits['nginx']:,.0f}",
         runs(hit_runs["nginx"], 0)],
    ]
    ratios = [
        [f"server cold / engine, {size} px", f"{cold[size] / engine[f'portrait {size}']:.2f}",
         "≈ 1.0: drawing is the cost; lower: the server path adds to it"] for size in SIZES
    ] + [
        ["engine: identicon / portrait, 80 px", f"{engine['identicon 80'] / engine['portrait 80']:.1f}",
         "what the portrait costs over the cheapest drawing"],
        ["cached: avatar hit / plain hit", f"{hits['avatar'] / hits['plain']:.2f}",
         "≈ 1.0: an avatar hit costs what any hit costs"],
        ["cached: fallthrough avatar hit / nginx static", f"{hits['avatar'] / hits['nginx']:.2f}",
         "the price of the edge for a small hit"],
        ["cached: fallthrough plain hit / nginx static", f"{hits['plain'] / hits['nginx']:.2f}",
         "the same, for any object"],
    ]
    print(f"\ngenerated avatars (portrait renderer, JPEG), median of {args.repeat}; fallthrough 1 worker + "
          f"{THREADS} image threads, queue {QUEUE}; cold: {CLIENTS} clients; cached: wrk -t1 -c{CONNECTIONS} "
          f"-d{args.seconds}s\n")
    print(markdown(["what", "median", "runs"], rows))
    print()
    print(markdown(["ratio", "value", "how to read it"], ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
