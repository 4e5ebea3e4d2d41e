"""Ingest throughput of `fallthrough blob put FILE --store file://DIR`, beside its limit.

The limit is one single-threaded in-process pass of the same FastCDC cut and per-chunk
BLAKE3 that a put must do at the least; put/limit shows what the CLI, compression, the
whole-blob hash and the store writes cost on top (a put can exceed 1: it uses 2 cores).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import blake3
import pyfastcdc

from common import (
    GiB, base_parser, dir_bytes, ensure_file, fmt_size, fresh_dir, median, parse_size, put, table, verdict, warm,
)

TARGETS = {"random": 0.5, "text": 0.3}  # GB/s (1e9 bytes/s)
LABELS = {"random": "incompressible", "text": "text-like"}


def limit_pass(path: Path) -> tuple[float, int, int]:
    """Seconds for FastCDC + BLAKE3 of every chunk, with (chunks, unique chunks)."""
    cdc = pyfastcdc.FastCDC(avg_size=256 * 1024, min_size=128 * 1024, max_size=512 * 1024, normalized_chunking=1)
    start = time.perf_counter()
    digests = [blake3.blake3(chunk.data).digest() for chunk in cdc.cut_file(str(path))]
    return time.perf_counter() - start, len(digests), len(set(digests))


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=GiB, help="bytes per input file (default 1GiB)")
    parser.add_argument(
        "--store-dir", type=Path, default=None,
        help="where the stores go (default .bench/; /dev/shm takes the disk out of the figure)",
    )
    args = parser.parse_args()
    rows, stores = [], []
    for kind in ("random", "text"):
        path = ensure_file(kind, args.size)
        warm(path)
        puts, limits = [], []
        for i in range(args.repeat):
            seconds, chunks, unique = limit_pass(path)
            limits.append(seconds)
            stores.append(fresh_dir(f"ingest-store-{kind}-{i}", args.store_dir))
            os.sync()  # start each put with no dirty pages left by the last one
            _, run = put(path, stores[-1])
            puts.append(run)
        stored, files = dir_bytes(stores[-1])
        put_gbs = args.size / median([r.wall for r in puts]) / 1e9
        limit_gbs = args.size / median(limits) / 1e9
        rows.append([
            LABELS[kind], fmt_size(args.size), f"{put_gbs:.3f}", f"{limit_gbs:.3f}", f"{put_gbs / limit_gbs:.2f}",
            f">= {TARGETS[kind]}", verdict(put_gbs >= TARGETS[kind]),
            f"{unique}/{chunks}", files - 1, f"{args.size / stored:.2f}x", f"{max(r.maxrss_mib for r in puts):.0f}",
        ])
    where = args.store_dir or "the .bench/ disk"
    print(f"\nblob put into a fresh file:// store on {where}, median of {args.repeat}; "
          "limit = FastCDC + BLAKE3/chunk, 1 thread")
    print(table(
        ["data", "size", "put GB/s", "limit GB/s", "put/limit", "target", "", "unique/chunks", "stored chunks",
         "zstd", "put RSS MiB"],
        rows,
    ))
    # Deleted only now: ext4 makes new files slow to create for a while after thousands
    # were deleted (it scans past recently freed inodes), which would slow the next put.
    for store in stores:
        shutil.rmtree(store)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
