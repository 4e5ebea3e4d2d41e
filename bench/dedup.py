"""Dedup across versions: what a store holds after 10 slightly edited copies of a file.

Each version is the previous one with a few small edits (by default one insertion of
1-100 bytes and one overwrite of 1-8 bytes; --inserts/--overwrites change that), the
kind of change that shifts every later byte: fixed-size chunking would store most of
the file again, content-defined chunking only the chunks around each edit. Stored bytes
are compared with the unique content (the first version plus every byte the edits
added or changed). Incompressible content is the honest case: zstd cannot hide misses.
"""

from __future__ import annotations

import random
import shutil

from common import (
    MiB, base_parser, dir_bytes, ensure_file, fmt_size, fresh_dir, parse_size, put, scratch, table, verdict,
)

TARGET = 1.2


def edit(rng: random.Random, data: bytearray, text: bool, inserts: int, overwrites: int) -> int:
    """Apply insertions of 1-100 bytes and overwrites of 1-8 bytes; return bytes touched."""
    touched = 0
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 .,:\n"
    for count, overwrite in ((inserts, False), (overwrites, True)):
        for _ in range(count):
            n = rng.randint(1, 100) if not overwrite else rng.randint(1, 8)
            new = bytes(rng.choices(alphabet, k=n)) if text else rng.randbytes(n)
            at = rng.randrange(len(data) - n)
            if overwrite:
                data[at : at + n] = new
            else:
                data[at:at] = new
            touched += n
    return touched


def run_kind(kind: str, size: int, versions: int, inserts: int, overwrites: int) -> list[object]:
    """Put every version into one fresh store; return a table row."""
    rng = random.Random(7)
    data = bytearray(ensure_file(kind, size).read_bytes())
    unique = len(data)
    store = fresh_dir(f"dedup-store-{kind}")
    workdir = scratch("dedup")
    digests, stored, files = [], [0], [0]
    for v in range(versions):
        if v:
            unique += edit(rng, data, kind == "text", inserts, overwrites)
        path = workdir / f"{kind}-v{v}.bin"
        path.write_bytes(data)
        digests.append(put(path, store)[0])
        total, count = dir_bytes(store)
        stored.append(total)
        files.append(count - v - 1)  # chunk files: all files less one manifest per version
        path.unlink()
    shutil.rmtree(store)
    assert len(set(digests)) == versions, "two versions got the same digest"
    total = stored[-1]
    later = (total - stored[1]) / max(versions - 1, 1)
    new_chunks = (files[-1] - files[1]) / max(versions - 1, 1)
    ratio = total / unique
    return [
        {"random": "incompressible", "text": "text-like"}[kind], versions, fmt_size(size), f"{unique / MiB:.2f}",
        f"{total / MiB:.2f}", f"{later / MiB:.2f}", f"{new_chunks:.1f}", f"{ratio:.3f}", f"<= {TARGET}",
        verdict(ratio <= TARGET),
    ]


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0], timed=False)
    parser.add_argument("--size", type=parse_size, default=64 * MiB, help="size of the first version (default 64MiB)")
    parser.add_argument("--versions", type=int, default=10, help="number of versions (default 10)")
    parser.add_argument("--inserts", type=int, default=1, help="insertions of 1-100 bytes per version (default 1)")
    parser.add_argument("--overwrites", type=int, default=1, help="overwrites of 1-8 bytes per version (default 1)")
    args = parser.parse_args()
    rows = [run_kind(kind, args.size, args.versions, args.inserts, args.overwrites) for kind in ("random", "text")]
    print(f"\n{args.versions} versions, each the last + {args.inserts} inserts (1-100 B) + {args.overwrites} overwrites (1-8 B), in one file:// "
          "store; new = stored per version after the first")
    headers = ["data", "versions", "size", "unique MiB", "stored MiB", "new MiB/version", "new chunks/version",
               "stored/unique", "target", ""]
    print(table(headers, rows))
    print("(text-like is flattered by zstd; incompressible is the one the target is about)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
