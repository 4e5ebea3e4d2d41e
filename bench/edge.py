"""The edge server beside nginx's proxy_cache, in one run, with the same worker count.

An nginx serves the test files as the origin. In front of it, on ports of their own:
nginx with proxy_cache (Debian's nginx-light) and `fallthrough serve`. wrk (Debian) loads
each in turn with the same connections and duration; figures are medians of --repeat.

  - 4 KiB hits: requests/s, fallthrough / nginx (target ≥ 0.6)
  - 1 MiB hits: bytes/s, fallthrough / nginx (target ≥ 1.0)
  - a 64 MiB miss: time to first byte, through fallthrough vs from the origin directly
  - RSS of fallthrough (all its processes) while 10 clients download a 2 GiB object (< 256 MiB)

With --metrics both, a second fallthrough without metrics is measured beside the first
(each wrk round runs both in turn), and the hits' ratio metrics on / off is printed;
--access-log both does the same for the access log, and --fleet both for a node of a
fleet (a real redis-server, a shared tier and a chunk service) against a node alone:
a hit must not touch the fleet.

Beside them, the HTTP server's own ceiling (bench/bare_app.py: the same files from
memory, no cache) shows how much of a gap is the cache and how much the server.

nginx and wrk are installed with apt-get when missing (root needed).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import GiB, KiB, MiB, ROOT, base_parser, ensure_file, fmt_size, fresh_dir, median, parse_size, table, verdict

sys.path.insert(0, str(ROOT / "tests"))

from redis_server import RedisServer  # noqa: E402

NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"
TARGETS = {"4KiB": 0.6, "1MiB": 1.0}


def ensure_tools() -> None:
    if os.path.exists(NGINX) and os.path.exists(WRK):
        return
    print("installing nginx-light and wrk from Debian ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "nginx-light", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def nginx_conf(root: Path, port: int, body: str) -> Path:
    conf = root / f"nginx-{port}.conf"
    conf.write_text(f"""
worker_processes 1;
pid {root}/nginx-{port}.pid;
error_log {root}/nginx-{port}.error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {root}/tmp-{port};
    proxy_temp_path {root}/tmp-{port};
    fastcgi_temp_path {root}/tmp-{port};
    uwsgi_temp_path {root}/tmp-{port};
    scgi_temp_path {root}/tmp-{port};
    {body}
}}
""")
    return conf


def start_nginx(root: Path, port: int, body: str) -> subprocess.Popen[bytes]:
    conf = nginx_conf(root, port, body)
    process = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"], start_new_session=True)
    wait_port(port)
    return process


FALLTHROUGH = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "fallthrough"


def launch_fallthrough(root: Path, port: int, config: str, store: str = "store",
                       processes: list[subprocess.Popen[bytes]] | None = None,
                       workers: int = 1) -> subprocess.Popen[bytes]:
    """`fallthrough serve` with `workers` workers (one by default) on `port`, its store in root/`store`, the rest of
    its configuration from `config`; its log in root/fallthrough.log. Put in `processes`
    before it is waited for, so a server that fails to start is stopped too."""
    path = root / "fallthrough.toml"
    path.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = {workers}\n[store]\npath = "{root / store}"\n{config}')
    log = open(root / "fallthrough.log", "wb")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen([str(FALLTHROUGH), "serve", "--config", str(path)], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    if processes is not None:
        processes.append(process)
    wait_port(port)
    return process


def start_fallthrough(root: Path, port: int, origin_port: int, access_log: bool = False,
                      metrics: bool = True, redis_url: str | None = None) -> subprocess.Popen[bytes]:
    """One fallthrough in `root` (a directory of its own: its config, log and store); with
    `redis_url`, a node of a fleet whose shared tier is a folder of its own."""
    root.mkdir(exist_ok=True)
    log = f'[log]\naccess = true\nfile = "{root / "access.log"}"\n' if access_log else ""
    log += "" if metrics else "[metrics]\nenabled = false\n"
    fleet = ""
    if redis_url is not None:
        fleet = (f'[[store.tier]]\nurl = "file://{root / "castore"}"\n'
                 f'[[store.tier]]\nurl = "file://{root / "shared"}"\nshared = true\n'
                 f'[fleet]\nnode = "bench"\nredis = "{redis_url}"\nlisten = "127.0.0.1:{free_port()}"\n')
    return launch_fallthrough(root, port, f"""memory_bytes = "64MiB"
{fleet}{log}[[mount]]
url_prefix = "/"
origin = "http://127.0.0.1:{origin_port}"
""", store="ft-store")


def start_bare(root: Path, port: int, www: Path) -> subprocess.Popen[bytes]:
    granian = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "granian"
    process = subprocess.Popen(
        [str(granian), "--interface", "rsgi", "--loop", "uvloop", "--no-ws", "--workers", "1", "--port", str(port),
         "--log-level", "warning", "bare_app:app"],
        cwd=Path(__file__).resolve().parent, env={**os.environ, "BARE_ROOT": str(www)}, start_new_session=True,
    )
    wait_port(port)
    return process


@contextmanager
def children(root: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list for the servers a bench starts under `root`: they are stopped, and `root`
    removed, however the run ends; on a failure the server's last log lines are shown
    first, since its log goes with `root`."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        yield processes
    except BaseException:
        log = root / "fallthrough.log"
        if log.exists():
            print("fallthrough.log (last lines):\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]),
                  file=sys.stderr)
        raise
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(root, ignore_errors=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


_UNIT = {"B": 1, "KB": KiB, "MB": MiB, "GB": GiB}


def wrk(url: str, connections: int, seconds: float) -> tuple[float, float]:
    """(requests/s, bytes/s) from one wrk run with one thread."""
    out = subprocess.run([WRK, "-t1", f"-c{connections}", f"-d{round(seconds)}s", url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    amount, unit = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out).groups()  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses from {url}")
    return rps, float(amount) * _UNIT[unit]


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                ticks += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk_cpu(url: str, connections: int, seconds: float, pgid: int) -> tuple[float, float]:
    """(requests/s, CPU seconds per request of the server's processes) from one wrk run.
    The CPU time a request costs the server barely depends on what else the machine runs,
    where requests per second on a shared machine do."""
    before = group_cpu(pgid)
    out = subprocess.run([WRK, "-t1", f"-c{connections}", f"-d{round(seconds)}s", url], capture_output=True, text=True,
                         check=True).stdout
    used = group_cpu(pgid) - before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, used / max(requests, 1)


def curl(url: str) -> tuple[int, float, float]:
    """(status, seconds to first byte, total seconds) of one download to /dev/null."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_starttransfer} %{time_total}",
                          url], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def group_rss(pgid: int) -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * KiB
        except (OSError, ValueError, IndexError):
            continue
    return total


def ten_downloads(pgid: int, url: str) -> tuple[int, float]:
    """Peak RSS of the server's processes while 10 clients download `url`, and the time."""
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, group_rss(pgid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    downloads = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", url]) for _ in range(10)]
    codes = [d.wait() for d in downloads]
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    assert codes == [0] * 10, codes
    return peak, seconds


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--big", type=parse_size, default=2 * GiB, help="object for the RSS figure (default 2GiB)")
    parser.add_argument("--miss-size", type=parse_size, default=64 * MiB, help="object for the miss (default 64MiB)")
    parser.add_argument("--access-log", nargs="?", const="on", default="off", choices=("on", "off", "both"),
                        help="fallthrough writes its access log (to a file); 'both' runs one fallthrough with it and "
                             "one without, measured in turn, like --metrics both")
    parser.add_argument("--fleet", choices=("on", "off", "both"), default="off",
                        help="fallthrough as a node of a fleet (a real redis-server, a shared tier); 'both' runs one "
                             "node of a fleet and one alone, measured in turn, like --metrics both")
    parser.add_argument("--metrics", choices=("on", "off", "both"), default="on",
                        help="fallthrough's metrics ([metrics] enabled; on by default). 'both' runs one fallthrough "
                             "with them and one without, measured in turn, and adds rows for the one without")
    args = parser.parse_args()
    if [args.metrics, args.access_log, args.fleet].count("both") > 1:
        parser.error("compare one thing at a time: --metrics both, --access-log both or --fleet both")
    ensure_tools()
    root = fresh_dir("edge")
    www = root / "www"
    www.mkdir()
    (www / "4k.bin").write_bytes(os.urandom(4 * KiB))
    (www / "1m.bin").write_bytes(os.urandom(MiB))
    shutil.copyfile(ensure_file("random", args.miss_size), www / "miss.bin")
    os.symlink(ensure_file("random", args.big), www / "big.bin")
    origin_port, nginx_port, ft_port, bare_port = free_port(), free_port(), free_port(), free_port()
    processes = [start_nginx(root, origin_port, f"""
        server {{ listen 127.0.0.1:{origin_port}; root {www};
                  location / {{ add_header Cache-Control "max-age=3600"; }} }}""")]
    try:
        processes.append(start_nginx(root, nginx_port, f"""
            proxy_cache_path {root}/nginx-cache levels=1:2 keys_zone=edge:64m max_size=10g inactive=1d;
            server {{ listen 127.0.0.1:{nginx_port};
                      location / {{ proxy_pass http://127.0.0.1:{origin_port}; proxy_cache edge;
                                    proxy_cache_lock on; proxy_http_version 1.1;
                                    proxy_set_header Connection ""; add_header X-Cache $upstream_cache_status; }} }}"""))
        logging, metrics = args.access_log != "off", args.metrics != "off"
        redis_url = None
        if args.fleet != "off":
            redis = RedisServer(root / "redis").start()
            processes.append(redis.process)  # type: ignore[arg-type]
            redis_url = redis.url
        ft = start_fallthrough(root / "ft", ft_port, origin_port, logging, metrics, redis_url)
        processes.append(ft)
        # With --metrics both (or --access-log both): a second fallthrough without them,
        # measured right after the first in every round, so that both see the same machine.
        variants = {"": ft_port}
        groups = {ft_port: ft.pid}
        compared_what = ("metrics" if args.metrics == "both" else "access log" if args.access_log == "both" else
                         "fleet" if args.fleet == "both" else None)
        if compared_what is not None:
            off_port = free_port()
            off = start_fallthrough(root / "ft-off", off_port, origin_port, logging and compared_what != "access log",
                                    metrics and compared_what != "metrics", None if compared_what == "fleet" else redis_url)
            processes.append(off)
            groups[off_port] = off.pid
            variants = {f" ({compared_what} on)": ft_port, f" ({compared_what} off)": off_port}
        processes.append(start_bare(root, bare_port, www))
        rows = []
        compared = []
        for label, path in (("4KiB", "/4k.bin"), ("1MiB", "/1m.bin")):
            for port in (nginx_port, *variants.values()):
                for _ in range(2):  # fill, then one hit to warm
                    curl(f"http://127.0.0.1:{port}{path}")
            ours: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            theirs, bare = [], []
            for round_ in range(args.repeat):
                theirs.append(wrk(f"http://127.0.0.1:{nginx_port}{path}", args.connections, args.seconds))
                order = list(variants.items())
                for name, port in order[round_ % len(order):] + order[:round_ % len(order)]:  # each goes first in turn
                    ours[name].append(wrk(f"http://127.0.0.1:{port}{path}", args.connections, args.seconds))
                bare.append(wrk(f"http://127.0.0.1:{bare_port}{path}", args.connections, args.seconds))
            pick = 0 if label == "4KiB" else 1
            b, c = (median([r[pick] for r in runs]) for runs in (theirs, bare))
            unit = "req/s" if pick == 0 else "MB/s"
            scale = 1 if pick == 0 else 1e6
            figures = []
            for name, runs in ours.items():
                a = median([r[pick] for r in runs])
                figures.append(a)
                rows.append([f"{label} hits ({unit}){name}", f"{a / scale:,.0f}", f"{b / scale:,.0f}", f"{a / b:.2f}",
                             f">= {TARGETS[label]}", verdict(a / b >= TARGETS[label]),
                             f"{c / scale:,.0f} ({c / b:.2f})", f"{a / c:.2f}"])
            if len(figures) == 2:
                # Paired: each round measured both back to back, so a round's ratio is
                # less at the mercy of what else the machine did meanwhile than the medians.
                on, off = ours.values()
                paired = sorted(a[pick] / b[pick] for a, b in zip(on, off, strict=True))
                compared.append(f"{label} hits, {compared_what} on / off: {figures[0] / scale:,.0f} / {figures[1] / scale:,.0f} "
                                f"{unit} = {figures[0] / figures[1]:.3f}; per round: median {median(paired):.3f}, "
                                f"range {paired[0]:.3f}-{paired[-1]:.3f}")
                if label == "4KiB":
                    # The server's CPU time per request, measured the same way, in turn.
                    cpu: dict[str, list[float]] = {name: [] for name in variants}
                    for round_ in range(args.repeat):
                        order = list(variants.items())
                        for name, port in order[round_ % 2:] + order[:round_ % 2]:
                            cpu[name].append(wrk_cpu(f"http://127.0.0.1:{port}{path}", args.connections, args.seconds,
                                                     groups[port])[1])
                    on_cpu, off_cpu = (median(v) for v in cpu.values())
                    compared.append(f"{label} hits, server CPU per request, {compared_what} on / off: {on_cpu * 1e6:.2f} / "
                                    f"{off_cpu * 1e6:.2f} us = {on_cpu / off_cpu:.3f} (median of {args.repeat})")
        direct, through = [], []
        for i in range(args.repeat):
            direct.append(curl(f"http://127.0.0.1:{origin_port}/miss.bin?run={i}")[1])
            status, first_byte, _ = curl(f"http://127.0.0.1:{ft_port}/miss.bin?run={i}")
            assert status == 200
            through.append(first_byte)
        rows.append([f"{fmt_size(args.miss_size)} miss: first byte (ms)", f"{median(through) * 1000:.1f}",
                     f"{median(direct) * 1000:.1f} (origin direct)", f"{median(through) / median(direct):.2f}", "", "",
                     "", ""])
        timings = []
        for phase in ("miss", "hit"):  # the first round fills the cache, the second reads it back
            peak, seconds = ten_downloads(ft.pid, f"http://127.0.0.1:{ft_port}/big.bin")
            timings.append(f"{phase} {seconds:.1f} s")
            rows.append([f"RSS, 10 clients x {fmt_size(args.big)}, {phase} (MiB)", f"{peak / MiB:.0f}", "", "",
                         "< 256", verdict(peak < 256 * MiB), "", ""])
        print(f"fallthrough vs nginx proxy_cache, 1 worker each, wrk -t1 -c{args.connections} "
              f"-d{args.seconds:g}s, median of {args.repeat}; 10 x {fmt_size(args.big)} took {', '.join(timings)}")
        print(table(["what", "fallthrough", "nginx", "ratio", "target", "", "server ceiling (/nginx)", "ft/ceiling"],
                    rows))
        print("server ceiling: an app on the same HTTP server and event loop answering from memory, no cache")
        for line in compared:
            print(line)
    finally:
        for process in reversed(processes):
            stop(process)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
