"""Purges through trouble: do any get lost?

A real redis-server, SeaweedFS as the shared tier, an origin and three `fallthrough
serve` nodes, each reaching Redis through a proxy of its own (tests/latency_proxy.py, no
delay: it is there to cut connections). Every node caches --purges objects; then one
purge per object is issued, round robin on the nodes that are up, while:

  at 20 %  n2 is killed (SIGKILL, the whole node)      at 35 %  n2 starts again
  at 50 %  Redis restarts, keeping its data (AOF)       at 65 %  every Redis connection is cut
  at 80 %  Redis restarts empty (no persistence)        at 90 %  every Redis connection is cut

Then every node is asked for every object without letting it fetch (only-if-cached). A
node that still holds a purged object lost that purge; the target is 0 on every node
("dropped everything it could not vouch for" counts as applied: it holds nothing).
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import sys
import time
from contextlib import ExitStack

from common import ROOT, base_parser, fresh_dir, table, verdict

sys.path.insert(0, str(ROOT / "tests"))

from edge_server import TOKEN, request  # noqa: E402
from fleet_harness import FleetNode  # noqa: E402
from latency_proxy import LatencyProxy  # noqa: E402
from origin_server import OriginServer  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from seaweed import start_seaweedfs  # noqa: E402

BUCKET = "fallthrough-soak"


def held(node: FleetNode, path: str) -> bool:
    return node.get(path, headers={"Cache-Control": "only-if-cached"}).status == 200


def purge(node: FleetNode, path: str) -> bool:
    try:
        reply = request(f"{node.url}/_fallthrough/purge?url={path}", "POST", {"Authorization": f"Bearer {TOKEN}"},
                        timeout=10)
    except OSError:
        return False
    return reply.status == 200


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--purges", type=int, default=10_000, help="objects cached, then purged (default 10000)")
    parser.add_argument("--purge-poll", default="1s", help="the nodes' fleet.purge_poll (default 1s)")
    args = parser.parse_args()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.default_int_handler)
    root = fresh_dir("fleet-soak")
    with ExitStack() as stack, concurrent.futures.ThreadPoolExecutor(8) as pool:
        redis_server = RedisServer(root / "redis", persistent=True)
        stack.callback(redis_server.stop)
        redis_server.start()
        seaweed = start_seaweedfs(root / "seaweedfs")
        stack.callback(seaweed.stop)
        os.environ.update(seaweed.env)
        seaweed.create_bucket(BUCKET)
        origin = stack.enter_context(OriginServer())
        paths = [f"/o/s/{i}" for i in range(args.purges)]
        for i in range(args.purges):
            origin.put(f"/s/{i}", str(i).encode() * 10, headers={"Cache-Control": "max-age=3600"})
        proxies = [stack.enter_context(LatencyProxy("127.0.0.1", redis_server.port, 0.0)) for _ in range(3)]
        mounts = f'[[mount]]\nurl_prefix = "/o"\norigin = "{origin.url}"\n'
        shared = f"s3://{BUCKET}/run-{os.getpid()}-{int(time.time())}"
        nodes = [FleetNode(root / f"n{i}", f"n{i}", f"redis://127.0.0.1:{proxy.port}/0", shared, mounts,
                           purge_poll=args.purge_poll) for i, proxy in enumerate(proxies)]
        for node in nodes:
            stack.callback(node.stop)
            node.start()
        started = time.monotonic()
        print(f"caching {args.purges} objects on 3 nodes ...", file=sys.stderr, flush=True)
        list(pool.map(lambda pair: pair[0].get(pair[1]), [(n, p) for p in paths for n in nodes]))
        for node in nodes:
            node.wait_idle(60)
        cached = {node.name: sum(pool.map(lambda p, node=node: held(node, p), paths)) for node in nodes}
        print(f"cached: {cached}; purging ...", file=sys.stderr, flush=True)

        events = {int(args.purges * f): what for f, what in ((0.20, "kill n2"), (0.35, "start n2"),
                                                              (0.50, "restart Redis, data kept"),
                                                              (0.65, "cut connections"),
                                                              (0.80, "restart Redis, data lost"),
                                                              (0.90, "cut connections"))}
        up = list(nodes)
        answered = failed = 0
        for i, path in enumerate(paths):
            what = events.get(i)
            if what == "kill n2":
                os.killpg(nodes[2].process.pid, signal.SIGKILL)  # type: ignore[union-attr]
                nodes[2].process.wait()  # type: ignore[union-attr]
                nodes[2].process = None
                up.remove(nodes[2])
            elif what == "start n2":
                nodes[2].start()
                up.append(nodes[2])
            elif what and what.startswith("restart Redis"):
                redis_server.stop()
                redis_server.persistent = what.endswith("kept")
                if not redis_server.persistent:
                    for name in os.listdir(redis_server.workdir):
                        if name.startswith("appendonly") or name.endswith(".rdb"):
                            path_ = redis_server.workdir / name
                            if path_.is_dir():
                                for inner in path_.iterdir():
                                    inner.unlink()
                            else:
                                path_.unlink()
                redis_server.start()
            elif what == "cut connections":
                for proxy in proxies:
                    proxy.drop_connections()
            if what:
                print(f"  {i}: {what}", file=sys.stderr, flush=True)
            for attempt in range(len(up)):
                if purge(up[(i + attempt) % len(up)], path):
                    answered += 1
                    break
            else:
                failed += 1
        issued_for = time.monotonic() - started
        print("waiting for the last purges to land ...", file=sys.stderr, flush=True)
        time.sleep(max(3.0, 3 * float(args.purge_poll.rstrip("s"))))
        lost = {node.name: sum(pool.map(lambda p, node=node: held(node, p), paths)) for node in nodes}
        print(f"{args.purges} purges ({answered} answered 200, {failed} not answered) with a node killed and "
              f"restarted, Redis restarted with and without its data, connections cut; {issued_for:.0f} s")
        print(table(["node", "objects cached before", "purged objects it still holds", "target", ""],
                    [[name, str(cached[name]), str(lost[name]), "0", verdict(lost[name] == 0)] for name in lost]))
        return 0 if failed == 0 and not any(lost.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
