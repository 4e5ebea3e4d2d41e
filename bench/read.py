"""Read throughput (whole blobs via the CLI, byte ranges in-process) and peak memory.

Whole reads run `fallthrough blob get` as a user would, to /dev/null. Ranged reads use
the Python API on one open reader, as a server answering Range requests would, so they
measure chunk fetch + decompress + verify per range rather than process start-up. Peak
RSS of a put and a get of a blob larger than any buffer shows memory stays bounded.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time

from fallthrough.castore import B3Digest, open_store

from common import (
    GiB, KiB, MiB, Run, base_parser, ensure_file, fmt_size, fresh_dir, median, parse_size, put, run_cli, store_url,
    table, verdict, warm,
)

RSS_TARGET_MIB = 256


async def ranged(url: str, digest: str, size: int, count: int, length: int, seed: int) -> float:
    """Seconds for `count` random `length`-byte ranges read one after another."""
    rng = random.Random(seed)
    starts = [rng.randrange(size - length + 1) for _ in range(count)]
    async with open_store(url) as store:
        reader = await store.open_read(B3Digest.from_hex(digest))
        start = time.perf_counter()
        got = 0
        for s in starts:
            async for part in reader.iter_range(s, s + length):
                got += len(part)
        seconds = time.perf_counter() - start
    assert got == count * length, f"read {got} bytes, expected {count * length}"
    return seconds


def get_devnull(digest: str, url: str) -> Run:
    """A whole `blob get` to stdout, thrown away by the OS rather than by us."""
    return run_cli(["blob", "get", digest, "--store", url], stdout_devnull=True)


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=GiB, help="blob for the throughput reads (default 1GiB)")
    parser.add_argument("--rss-size", type=parse_size, default=2 * GiB, help="blob for peak RSS (default 2GiB)")
    parser.add_argument("--small", type=int, default=500, help="number of 64 KiB ranges (default 500)")
    parser.add_argument("--large", type=int, default=200, help="number of 4 MiB ranges (default 200)")
    args = parser.parse_args()

    path = ensure_file("random", args.size)
    warm(path)
    store = fresh_dir("read-store")
    url = store_url(store)
    digest, _ = put(path, store)

    full = [get_devnull(digest, url).wall for _ in range(args.repeat)]
    print(f"\nreads of a {fmt_size(args.size)} incompressible blob from a file:// store, median of {args.repeat}")
    rows = [["blob get (whole, CLI)", 1, fmt_size(args.size), "-", f"{args.size / median(full) / 1e9:.3f} GB/s"]]
    for count, length in ((args.small, 64 * KiB), (args.large, 4 * MiB)):
        length = min(length, args.size)
        secs = median([asyncio.run(ranged(url, digest, args.size, count, length, seed=r)) for r in range(args.repeat)])
        rows.append(["iter_range (in-process)", count, fmt_size(length), f"{count / secs:.0f} req/s",
                     f"{count * length / secs / 1e6:.0f} MB/s"])
    print(table(["read", "requests", "each", "rate", "throughput"], rows))
    shutil.rmtree(store)

    big = ensure_file("random", args.rss_size)
    warm(big)
    store = fresh_dir("read-rss-store")
    digest, put_run = put(big, store)
    get_run = get_devnull(digest, store_url(store))
    shutil.rmtree(store)
    print(f"\npeak RSS of one CLI process (ru_maxrss), {fmt_size(args.rss_size)} incompressible blob")
    runs = (("blob put FILE", put_run), ("blob get > /dev/null", get_run))
    print(table(
        ["command", "size", "wall s", "peak RSS MiB", "target", ""],
        [[name, fmt_size(args.rss_size), f"{run.wall:.1f}", f"{run.maxrss_mib:.0f}", f"< {RSS_TARGET_MIB}",
          verdict(run.maxrss_mib < RSS_TARGET_MIB)] for name, run in runs],
    ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
