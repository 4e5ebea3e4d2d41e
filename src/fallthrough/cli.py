"""`fallthrough ...`: the command line.

Every failure a user can cause or meet (a bad digest, a missing blob, an unreachable
store, a bad config) ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from typing import BinaryIO

from . import __version__
from .castore import B3Digest, BlobStore, CastoreError, open_store
from .config import ConfigError, load
from .runtime import tune_allocator
from .serve_errors import ServeError

EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A command line that names something impossible (a bad range, a missing file)."""


def _store_from(args: argparse.Namespace) -> BlobStore:
    if args.store:
        return open_store(_chunk_store(args.store))
    if args.config:
        return load(args.config).store.open()
    raise UsageError("no store given: use --store URL (memory://, file:///path, s3://bucket/prefix) or --config FILE")


def _chunk_store(where: str) -> str:
    """A server's `store.path` names the folder that holds its chunk store (`castore/`)
    beside its index: given that folder, the chunk store inside it is meant."""
    folder = where[len("file://"):] if where.startswith("file://") else where
    inner = os.path.join(folder, "castore")
    if "://" not in folder and os.path.isdir(inner) and not os.path.isdir(os.path.join(folder, "chunks")):
        return inner
    return where


def parse_range(text: str, size: int) -> tuple[int, int]:
    """`A-B` (inclusive, as in HTTP), `A-` (to the end) or `-N` (the last N bytes) → [start, end)."""
    match = re.fullmatch(r"\s*(\d*)\s*-\s*(\d*)\s*", text)
    if match is None or match.groups() == ("", ""):
        raise UsageError(f"bad range {text!r}: use A-B, A- or -N (byte positions, B inclusive)")
    first, last = match.groups()
    if first == "":
        count = int(last)
        if count == 0:
            raise UsageError(f"range {text!r} asks for no bytes")
        return max(size - count, 0), size
    start = int(first)
    end = size if last == "" else int(last) + 1
    if last != "" and end <= start:
        raise UsageError(f"bad range {text!r}: the end comes before the start")
    if start >= size:
        raise UsageError(f"range {text!r} starts past the end of the blob ({size} bytes)")
    return start, min(end, size)


async def _put(args: argparse.Namespace) -> int:
    if args.file == "-":
        source, total = sys.stdin.buffer, None
    else:
        try:
            source = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
        total = os.fstat(source.fileno()).st_size if os.path.isfile(args.file) else None
    progress = _progress(total, "put")
    try:
        async with _store_from(args) as store:
            writer = store.open_write()
            async with writer:
                await writer.write_from(_counting(source, progress))
                digest = await writer.close()
    finally:
        if progress is not None:
            progress.close()
        if source is not sys.stdin.buffer:
            source.close()
    print(digest)
    return 0


def _counting(source: BinaryIO, progress) -> Callable[[memoryview], int]:  # noqa: ANN001
    """The source's readinto, moving the progress bar (if any) as bytes arrive."""
    if progress is None:
        return source.readinto  # type: ignore[return-value]

    def read_into(buffer: memoryview) -> int:
        count = source.readinto(buffer) or 0
        progress.update(count)
        return count

    return read_into


def _progress(total: int | None, what: str):  # noqa: ANN202 - tqdm or None
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    # A terminal that reports no size (a bare pty) would get a zero-width bar.
    size = shutil.get_terminal_size((80, 24))
    return tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=what, file=sys.stderr, leave=False,
        ncols=size.columns or 80, nrows=size.lines or 24,
    )


async def _get(args: argparse.Namespace) -> int:
    digest = B3Digest.from_hex(args.digest)
    async with _store_from(args) as store:
        reader = await store.open_read(digest)
        start, end = parse_range(args.range, reader.size) if args.range else (0, reader.size)
        if args.output in (None, "-"):
            await _copy(reader.iter_range(start, end), sys.stdout.buffer, end - start)
            sys.stdout.buffer.flush()
            return 0
        partial = f"{args.output}.part"
        try:
            with open(partial, "wb") as out:
                await _copy(reader.iter_range(start, end), out, end - start)
            os.replace(partial, args.output)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return 0


async def _copy(parts, out: BinaryIO, total: int) -> None:  # noqa: ANN001 - async iterator
    progress = _progress(total, "get") if out is not sys.stdout.buffer or not sys.stdout.isatty() else None
    try:
        async for part in parts:
            # Written in place: this process serves one reader, and a trip to a worker
            # thread per chunk costs more than the write.
            out.write(part)
            if progress is not None:
                progress.update(len(part))
    finally:
        if progress is not None:
            progress.close()


async def _stat(args: argparse.Namespace) -> int:
    digest = B3Digest.from_hex(args.digest)
    async with _store_from(args) as store:
        info = await store.stat(digest)
    print(json.dumps(info.to_json(), indent=2))
    return 0


async def _ls(args: argparse.Namespace) -> int:
    async with _store_from(args) as store:
        async for digest in store.list():
            if args.long:
                info = await store.stat(digest)
                print(f"{digest}\t{info.size}\t{len(info.chunks)}")
            else:
                print(digest)
    return 0


async def _rm(args: argparse.Namespace) -> int:
    digests = [B3Digest.from_hex(d) for d in args.digest]
    async with _store_from(args) as store:
        for digest in digests:
            await store.delete(digest)
    return 0


def _settings(args: argparse.Namespace):  # noqa: ANN202 - config.Settings
    from .config import default_settings

    return load(args.config) if args.config else default_settings()


async def _serve(args: argparse.Namespace) -> int:
    from .serve import serve

    return serve(_settings(args), args.config)


async def _check(args: argparse.Namespace) -> int:
    from .serve import check, limits, reach_origins

    settings = _settings(args)
    check(settings, listen=False)
    limits(settings.server)
    what = args.config or "the embedded default configuration"
    reached = f", {await reach_origins(settings)} origin(s) reached" if args.connect else ""
    print(f"fallthrough: {what} is good: {len(settings.mounts)} mount(s){reached}")
    return 0


async def _reload(args: argparse.Namespace) -> int:
    import signal

    from .reload import node_pid
    from .serve import check, limits

    settings = _settings(args)
    check(settings, listen=False)  # a bad file is refused here, before the node hears of it
    limits(settings.server)
    pid = node_pid(settings)
    os.kill(pid, signal.SIGHUP)
    print(f"fallthrough: the configuration is good; node {pid} is reloading it (its log says when)")
    return 0


async def _purge(args: argparse.Namespace) -> int:
    from .purge import purge

    if sum(x is not None for x in (args.url, args.prefix, args.tag)) != 1:
        raise UsageError("give exactly one of URL, --prefix P or --tag T")
    print(purge(_settings(args), url=args.url, prefix=args.prefix, tag=args.tag))
    return 0


async def _fleet_status(args: argparse.Namespace) -> int:
    from .fleet.status import FleetUnreachable, status, table

    try:
        report = await status(_settings(args))
    except FleetUnreachable as exc:
        print(f"fallthrough: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


async def _sign_url(args: argparse.Namespace) -> int:
    from .transforms.signing import sign_url

    key = _settings(args).images.signing_key
    if key is None:
        raise UsageError("no signing key: set [images] signing_key in the configuration (or FALLTHROUGH_SIGNING_KEY)")
    if not args.url.startswith(("/", "http://", "https://")):
        raise UsageError(f"bad URL {args.url!r}: a path beginning with '/' or a full http(s) URL")
    print(sign_url(key.encode(), args.url))
    return 0


async def _migrate(args: argparse.Namespace) -> int:
    from .migrate import Side, migrate

    if args.concurrency < 1 or args.concurrency > 256:
        raise UsageError("--concurrency: from 1 to 256")
    source, target = (Side(role, getattr(args, f"{role}_profile"), getattr(args, f"{role}_endpoint"),
                           getattr(args, f"{role}_region")) for role in ("source", "target"))
    return await migrate(args.source, args.target, args.prefix, args.concurrency, sides=(source, target),
                         spool=args.spool)


async def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return await run_demo(args.dir)


def _store_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--store", metavar="URL", help="memory://, file:///path, a directory (a server's store.path "
                                                      "too), or s3://bucket/prefix")
    group.add_argument("--config", metavar="FILE", help="a TOML file whose [store] section names the tiers")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fallthrough", description="A fall-through caching edge for object storage.")
    parser.add_argument("--version", action="version", version=f"fallthrough {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    blob = commands.add_parser("blob", help="put, get and inspect blobs in a chunk store")
    blob_commands = blob.add_subparsers(dest="blob_command", required=True, metavar="ACTION")

    put = blob_commands.add_parser("put", help="store a file (or - for stdin); prints its digest")
    put.add_argument("file", metavar="FILE|-")
    _store_options(put)
    put.set_defaults(run=_put)

    get = blob_commands.add_parser("get", help="write a blob (or a byte range of it) out")
    get.add_argument("digest", metavar="DIGEST")
    get.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout (complete or not at all)")
    get.add_argument("--range", metavar="A-B", help="bytes A to B inclusive; A- to the end; -N the last N")
    _store_options(get)
    get.set_defaults(run=_get)

    stat = blob_commands.add_parser("stat", help="size and chunks of a blob, as JSON")
    stat.add_argument("digest", metavar="DIGEST")
    _store_options(stat)
    stat.set_defaults(run=_stat)

    ls = blob_commands.add_parser("ls", help="list the blobs in a store")
    ls.add_argument("-l", "--long", action="store_true", help="also print size and chunk count")
    _store_options(ls)
    ls.set_defaults(run=_ls)

    rm = blob_commands.add_parser("rm", help="delete blobs (chunks other blobs list stay)")
    rm.add_argument("digest", metavar="DIGEST", nargs="+")
    _store_options(rm)
    rm.set_defaults(run=_rm)

    def with_config(name: str, run: Callable, what: str, config: str) -> argparse.ArgumentParser:  # type: ignore[type-arg]
        command = commands.add_parser(name, help=what)
        command.add_argument("--config", metavar="FILE", help=config)
        command.set_defaults(run=run)
        return command

    with_config("serve", _serve, "run the edge server (the embedded default config without --config)",
                "a TOML file: [server], [store], [[mount]]")
    check = with_config("check", _check, "check a configuration as `serve` would, without serving",
                        "the TOML file to check (default: the embedded one)")
    check.add_argument("--connect", action="store_true", help="also ask each origin for one object (HEAD)")
    with_config("reload", _reload, "check the node's configuration, then have the node reload it",
                "the node's TOML file (default: the embedded one)")
    purge = with_config("purge", _purge, "purge a URL, a prefix or a tag from this node's cache",
                        "the server's configuration (default: the embedded one)")
    purge.add_argument("url", metavar="URL", nargs="?", help="a path such as /assets/a.png, or a full URL")
    purge.add_argument("--prefix", metavar="P", help="every key under this path prefix")
    purge.add_argument("--tag", metavar="T", help="every entry the origin tagged T (Surrogate-Key, Cache-Tag)")
    sign = with_config("sign-url", _sign_url, "add the signature an image transform URL needs (sig=)",
                       "the server's configuration, with [images] signing_key")
    sign.add_argument("url", metavar="URL", help="a path with its query, such as /img/cat.jpg?w=200, or a full URL")

    fleet = commands.add_parser("fleet", help="the fleet this node belongs to ([fleet])")
    fleet_commands = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    fleet_status = fleet_commands.add_parser("status", help="the nodes: alive or gone, their purge positions")
    fleet_status.add_argument("--config", metavar="FILE", help="a node's TOML file, with [fleet]")
    fleet_status.add_argument("--json", action="store_true", help="the report as JSON")
    fleet_status.set_defaults(run=_fleet_status)

    migrate = commands.add_parser("migrate", help="copy the objects a target bucket lacks from a source bucket")
    migrate.add_argument("source", metavar="SOURCE", help="s3://bucket/prefix or file:///dir")
    migrate.add_argument("target", metavar="TARGET", help="s3://bucket/prefix or file:///dir")
    migrate.add_argument("--prefix", metavar="P", help="only keys under this path prefix (a folder, e.g. img/2024)")
    migrate.add_argument("--concurrency", metavar="N", type=int, default=8, help="copies at once (default 8)")
    for role in ("source", "target"):
        migrate.add_argument(f"--{role}-profile", metavar="NAME",
                             help=f"the {role}'s keys, region and endpoint_url from this profile of the AWS shared "
                                  f"files (~/.aws/credentials, ~/.aws/config); else {role.upper()}_AWS_* variables, "
                                  f"else AWS_*")
        migrate.add_argument(f"--{role}-endpoint", metavar="URL", help=f"the {role}'s S3 endpoint (over its profile)")
        migrate.add_argument(f"--{role}-region", metavar="R", help=f"the {role}'s region (over its profile)")
    migrate.add_argument("--spool", metavar="DIR", help="where an object copied with one PUT (to keep its ETag) "
                                                        "waits on disk (default: the system temp dir)")
    migrate.set_defaults(run=_migrate)

    demo = commands.add_parser("demo", help="a tour of the chunk store on a local directory")
    demo.add_argument("--dir", default=".demo-store", help="where the demo keeps its tiers (default .demo-store)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_allocator()
    logging.basicConfig(level=logging.WARNING, format="fallthrough: warning: %(message)s")
    try:
        return asyncio.run(args.run(args))
    except UsageError as exc:
        print(f"fallthrough: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (CastoreError, ConfigError, ServeError) as exc:
        print(f"fallthrough: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    """The `fallthrough` command: main(), then out without the interpreter's teardown.

    Once main() has returned, everything it opened is closed and flushed; what is left
    are the object-store client's native runtime threads, and tearing the interpreter
    down under them has ended a finished command with SIGABRT now and then. So the exit
    status goes straight to the OS."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
