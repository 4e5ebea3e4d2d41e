"""The public HTTP caching test suite against `fallthrough serve`, scored as its results
page scores it.

The suite is not in a package registry, so it is not part of CI: bring a copy of it
(http-tests/cache-tests), run `npm i` in it, and pass its folder:

    .venv/bin/python bench/cache_tests.py /path/to/cache-tests [--list] [--keep results.json]

This starts the suite's origin on a free port, `fallthrough serve` with one mount `/` in
front of it (two workers, as in production), runs the suite's command-line client
against the edge, and prints the required / optimal / check counts (browser-only tests
left out) and, with --list, every test that did not pass with the suite's reason.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edge import children, free_port, launch_fallthrough, wait_port

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="folder of the suite, with its node_modules installed")
    parser.add_argument("--list", action="store_true", help="list every test that did not pass")
    parser.add_argument("--keep", type=Path, help="write the suite's raw results here")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", default="", help="extra TOML lines for the mount")
    args = parser.parse_args()
    suite = args.suite.resolve()
    if not (suite / "test-engine" / "cli.mjs").exists() or not (suite / "node_modules").exists():
        print(f"{suite}: not a copy of the suite with `npm i` run in it", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="cache-tests-"))
    with children(root) as processes:
        origin_port, edge_port = free_port(), free_port()
        env = {**os.environ, "npm_config_protocol": "http", "npm_config_port": str(origin_port),
               "npm_config_pidfile": str(root / "origin.pid")}
        processes.append(subprocess.Popen(["node", "test-engine/server/server.mjs"], cwd=suite, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        wait_port(origin_port)
        processes.append(launch_fallthrough(root, edge_port, f"""memory_bytes = "64MiB"
[[mount]]
url_prefix = "/"
origin = "http://127.0.0.1:{origin_port}"
{args.config}
""", workers=args.workers))
        results = root / "results.json"
        env = {**os.environ, "npm_config_base": f"http://127.0.0.1:{edge_port}", "npm_package_config_id": ""}
        with open(results, "wb") as out:
            subprocess.run(["node", "--no-warnings", "test-engine/cli.mjs"], cwd=suite, env=env, stdout=out,
                           check=True)
        if args.keep is not None:
            shutil.copy(results, args.keep)
            shutil.copy(root / "fallthrough.log", args.keep.with_suffix(".log"))
        score = ["node", str(HERE / "cache_tests_score.mjs"), str(suite), str(results)]
        subprocess.run(score + (["--list"] if args.list else []), check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
