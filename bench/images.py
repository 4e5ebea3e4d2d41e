"""Image transforms: fallthrough (libvips) beside a plain Pillow implementation, in one run.

The source is one 1000x1000 photo-like PNG (a gradient with noise, so neither PNG nor
the resizer gets an easy ride); every result is a 256-px-wide WebP. Figures are medians
of --repeat runs.

  - engine, in process: transforms/s with 2 threads, pyvips vs Pillow on the same bytes
  - server, cold: variants/s through `fallthrough serve` (1 worker, [images] workers = 2)
    for --requests distinct variants sent by 4 concurrent clients, vs a small aiohttp app
    that reads the PNG and resizes it with Pillow in 2 threads per request
  - server, cached: wrk on one cached variant vs wrk on a plain cached object of the same
    size on the same mount; a variant hit should cost what any other hit costs (≈ 1.0)

wrk is installed with apt-get when missing (root needed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import aiohttp
import pyvips
from aiohttp import web
from PIL import Image

from common import base_parser, median
from edge import WRK, children, free_port, launch_fallthrough, wait_port, wrk

SIDE = 1000  # source width and height
WIDTH = 256  # of every result in the engine figure and the checks
QUALITY = 80
THREADS = 2  # transform threads in process, in fallthrough's pool and in the Pillow server
CLIENTS = 4  # concurrent requests for the cold figure
CONNECTIONS = 32  # wrk connections for the cached figure


def ensure_wrk() -> None:
    if os.path.exists(WRK):
        return
    print("installing wrk from Debian ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)


def photo_png() -> bytes:
    """A gradient with blotches and grain: flat or synthetic pictures would flatter both
    PNG decoding and WebP encoding, and real uploads are photos. The blotches (noise at an
    eighth of the size, enlarged) survive the shrink, so the 256-px WebP is photo-sized
    (about 16 KB) rather than a 1 KB gradient."""
    xyz = pyvips.Image.xyz(SIDE, SIDE)
    x, y = xyz[0], xyz[1]
    bands = []
    for base in (x * (255 / SIDE), y * (255 / SIDE), (x + y) * (255 / (2 * SIDE))):
        blotches = pyvips.Image.gaussnoise(SIDE // 8, SIDE // 8, sigma=20, mean=0).resize(8, kernel="cubic")
        bands.append(base + blotches + pyvips.Image.gaussnoise(SIDE, SIDE, sigma=12, mean=0))
    image = bands[0].bandjoin(bands[1:]).cast("uchar").copy(interpretation="srgb")
    return image.write_to_buffer(".png")


def vips_webp(data: bytes, width: int = WIDTH, quality: int = QUALITY) -> bytes:
    return pyvips.Image.thumbnail_buffer(data, width).write_to_buffer(".webp", Q=quality)


def pillow_webp(data: bytes, width: int = WIDTH, quality: int = QUALITY) -> bytes:
    with Image.open(BytesIO(data)) as image:
        height = max(1, round(image.height * width / image.width))
        image.thumbnail((width, height), Image.LANCZOS)
        out = BytesIO()
        image.save(out, "WEBP", quality=quality)
        return out.getvalue()


def engine_rate(work: Callable[[bytes], bytes], data: bytes, count: int) -> float:
    """Transforms/s with THREADS threads: the same parallelism the servers get."""
    with ThreadPoolExecutor(THREADS) as pool:
        work(data)  # first call loads codecs and warms caches
        started = time.perf_counter()
        results = list(pool.map(work, [data] * count))
        seconds = time.perf_counter() - started
    assert all(results)
    return count / seconds


def check_webp(body: bytes, content_type: str | None, what: str) -> None:
    """Every server must really answer the variant before it is timed: a fast 404 or an
    untransformed PNG would make any figure meaningless."""
    if content_type != "image/webp" or body[:4] != b"RIFF" or body[8:12] != b"WEBP":
        raise RuntimeError(f"{what}: expected an image/webp body, got {content_type} ({body[:16]!r})")
    width = pyvips.Image.new_from_buffer(body, "").width
    if width != WIDTH:
        raise RuntimeError(f"{what}: expected a {WIDTH}-px-wide image, got {width}")


# -- the Pillow HTTP server (a child process of this script) -------------------------


def serve_pillow(port: int, root: Path) -> None:
    """What a straightforward Python service would do: read the source per request and
    resize in a thread pool so the event loop keeps accepting."""
    pool = ThreadPoolExecutor(THREADS)

    def transform(path: Path, width: int, quality: int) -> bytes:
        return pillow_webp(path.read_bytes(), width, quality)

    async def handle(request: web.Request) -> web.Response:
        path = root / request.match_info["name"]
        if request.query.get("format", "webp") != "webp" or not path.is_file():
            raise web.HTTPNotFound()
        width, quality = int(request.query.get("w", WIDTH)), int(request.query.get("q", QUALITY))
        body = await asyncio.get_running_loop().run_in_executor(pool, transform, path, width, quality)
        return web.Response(body=body, content_type="image/webp")

    app = web.Application()
    app.router.add_get("/src/{name}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_pillow(port: int, root: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, "--serve-pillow", str(port), str(root)],
                               start_new_session=True)
    wait_port(port)
    return process


def start_fallthrough(root: Path, port: int) -> subprocess.Popen[bytes]:
    return launch_fallthrough(root, port, f"""[images]
workers = {THREADS}
queue = 64
[[mount]]
url_prefix = "/src"
origin = "file://{root / 'src'}"
default_ttl = "1h"
image_transforms = true
""")


# -- clients ----------------------------------------------------------------------------


async def _get(url: str) -> tuple[int, bytes, str | None, str | None]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read(), response.headers.get("Content-Type"), \
            response.headers.get("X-Cache")


def get(url: str) -> tuple[int, bytes, str | None, str | None]:
    """(status, body, content type, X-Cache) of one request."""
    return asyncio.run(_get(url))


async def _cold(urls: Sequence[str]) -> float:
    queue = list(reversed(urls))
    failures: list[str] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            url = queue.pop()
            async with session.get(url) as response:
                body = await response.read()
                if response.status != 200 or response.headers.get("Content-Type") != "image/webp" or not body:
                    failures.append(f"{url}: {response.status} {response.headers.get('Content-Type')}")
                elif response.headers.get("X-Cache") == "HIT":  # a hit would time the cache, not a transform
                    failures.append(f"{url}: a cache hit, not a cold variant")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
        seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(urls)} variants failed, first: {failures[0]}")
    return len(urls) / seconds


def cold_rate(urls: Sequence[str]) -> float:
    """Variants/s for `urls`, CLIENTS at a time, every answer checked."""
    return asyncio.run(_cold(urls))


def variant_paths(run: int, count: int) -> list[str]:
    """`count` variants never asked for before: q runs through 1..100 and the width steps
    down from 255 (256 q=80 is the cached one) so that no run meets an earlier one's."""
    paths = []
    for i in range(count):
        k = run * count + i
        paths.append(f"/src/pic.png?w={WIDTH - 1 - k // 100}&format=webp&q={k % 100 + 1}")
    return paths


# -- report -----------------------------------------------------------------------------


def runs(values: Sequence[float], digits: int = 1) -> str:
    """Every run beside the median, so a noisy figure shows itself as one."""
    return " ".join(f"{v:,.{digits}f}" for v in values)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run (default 5)")
    parser.add_argument("--requests", type=int, default=200, help="cold variants per run (default 200)")
    parser.add_argument("--transforms", type=int, default=60, help="in-process transforms per run (default 60)")
    parser.add_argument("--serve-pillow", nargs=2, metavar=("PORT", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_pillow:
        serve_pillow(int(args.serve_pillow[0]), Path(args.serve_pillow[1]))
        return 0
    ensure_wrk()
    pyvips.cache_set_max(0)  # the same buffer every time: a cached result would time nothing
    png = photo_png()
    check_webp(vips_webp(png), "image/webp", "pyvips in process")
    check_webp(pillow_webp(png), "image/webp", "Pillow in process")
    print(f"source: {SIDE}x{SIDE} PNG, {len(png):,} bytes", flush=True)

    vips_runs, pillow_runs = [], []
    for _ in range(args.repeat):
        vips_runs.append(engine_rate(vips_webp, png, args.transforms))
        pillow_runs.append(engine_rate(pillow_webp, png, args.transforms))
    engine = (median(vips_runs), median(pillow_runs))
    print(f"engine (transforms/s): pyvips {runs(vips_runs)}, Pillow {runs(pillow_runs)}", flush=True)

    root = Path(tempfile.mkdtemp(prefix="fallthrough-images-"))
    with children(root) as processes:
        (root / "src").mkdir()
        (root / "src" / "pic.png").write_bytes(png)
        ft_port, pillow_port = free_port(), free_port()
        processes.append(start_fallthrough(root, ft_port))
        processes.append(start_pillow(pillow_port, root / "src"))
        bases = {"fallthrough": f"http://127.0.0.1:{ft_port}", "pillow": f"http://127.0.0.1:{pillow_port}"}
        cached_path = f"/src/pic.png?w={WIDTH}&format=webp&q={QUALITY}"
        variant = b""
        for who, base in bases.items():  # the first fallthrough request also caches the source
            status, body, content_type, _ = get(base + cached_path)
            if status != 200:
                raise RuntimeError(f"{who}: {cached_path} answered {status}: {body[:200]!r}")
            check_webp(body, content_type, who)
            variant = body if who == "fallthrough" else variant

        cold_runs: dict[str, list[float]] = {"fallthrough": [], "pillow": []}
        for run in range(args.repeat):
            paths = variant_paths(run, args.requests)
            for who, base in bases.items():
                cold_runs[who].append(cold_rate([base + p for p in paths]))
        cold = (median(cold_runs["fallthrough"]), median(cold_runs["pillow"]))
        print(f"cold (variants/s): fallthrough {runs(cold_runs['fallthrough'])}, "
              f"Pillow server {runs(cold_runs['pillow'])}", flush=True)

        (root / "src" / "plain.bin").write_bytes(os.urandom(len(variant)))
        urls = {"variant": bases["fallthrough"] + cached_path, "plain": bases["fallthrough"] + "/src/plain.bin"}
        for what, url in urls.items():
            for _ in range(2):  # fill (the variant is filled already), then one hit to warm
                status, body, _, x_cache = get(url)
            if status != 200 or x_cache != "HIT" or len(body) != len(variant):
                raise RuntimeError(f"{what}: {url} is not a cached hit ({status}, X-Cache {x_cache}, {len(body)} B)")
        hit_runs: dict[str, list[float]] = {"variant": [], "plain": []}
        for _ in range(args.repeat):
            for what, url in urls.items():
                hit_runs[what].append(wrk(url, CONNECTIONS, args.seconds)[0])
        hits = (median(hit_runs["variant"]), median(hit_runs["plain"]))
        print(f"cached (req/s): variant {runs(hit_runs['variant'], 0)}, plain {runs(hit_runs['plain'], 0)}",
              flush=True)

    rows = [
        [f"engine: {WIDTH} px WebP q{QUALITY} from the PNG, {THREADS} threads (transforms/s)",
         f"{engine[0]:,.1f}", f"{engine[1]:,.1f}", f"{engine[0] / engine[1]:.2f}"],
        [f"server, cold: {args.requests} distinct variants, {CLIENTS} clients (variants/s)",
         f"{cold[0]:,.1f}", f"{cold[1]:,.1f}", f"{cold[0] / cold[1]:.2f}"],
        [f"server, cached: variant hit vs plain hit of {len(variant):,} B (req/s; Pillow column = plain hit)",
         f"{hits[0]:,.0f}", f"{hits[1]:,.0f}", f"{hits[0] / hits[1]:.2f}"],
    ]
    print(f"\nimage transforms, {SIDE}x{SIDE} PNG ({len(png):,} B) -> {WIDTH} px WebP, median of {args.repeat}; "
          f"fallthrough 1 worker + {THREADS} image threads, Pillow server 1 process + {THREADS} threads; "
          f"cached: wrk -t1 -c{CONNECTIONS} -d{args.seconds}s\n")
    print(markdown(["what", "fallthrough (pyvips)", "Pillow", "ratio"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
