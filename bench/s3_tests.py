"""The public S3 conformance suite's object-level selection against SeaweedFS's own S3
endpoint and against fallthrough's S3 API over SeaweedFS, in one run, with the counts side
by side and the tests only SeaweedFS passes listed.

The suite is not a package, so it is not part of CI: bring a copy of it (ceph/s3-tests)
and pass its folder:

    .venv/bin/python bench/s3_tests.py /path/to/s3-tests [--only fallthrough] [--keep DIR] [--list]

The suite's own requirements go into a virtual environment of its own (`.venv` inside
its folder), made on the first run. Its tests are selected as the suite's users select
them, with pytest's -k (default: object, multipart, list, range, presign, head and copy).

Both servers start fresh, and every bucket name the suite makes is used once in a run, so
the suite's clean-up before and after each test (which lists and empties every bucket
with its prefix) is left out for both alike: with one mount bucket per name, as
fallthrough needs, it would list hundreds of buckets twice per test. fallthrough serves
--buckets mount buckets `s3t-1` ... `s3t-N`, each a folder of one SeaweedFS bucket,
writable, cached for an hour, and the suite's users (main, alt, tenant) may sign.

The goal counts leave out what an edge does not keep: object lock, versioning, bucket
administration (policies, ACL grants, lifecycle, CORS, logging, encryption settings,
ownership, public access, bucket naming and deletion) and server-side encryption, matched
by test name (LEFT_OUT); each is counted on its own line.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge import free_port, stop, wait_port

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from seaweed import SeaweedFS, start_seaweedfs  # noqa: E402 - the tests' SeaweedFS launcher, shared

FALLTHROUGH = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "fallthrough"
SELECTION = "object or multipart or list or range or presign or head or copy"
# What an edge does not keep, left out of the goal counts, by test name.
LEFT_OUT = {
    "object lock": re.compile(r"lock|retention|legal_hold"),
    "versioning": re.compile(r"version"),
    "bucket administration": re.compile(
        r"bucket_policy|bucketv2_policy|with_policy|policy_prefix|logging_policy|acl|grant|lifecycle|cors|logging|"
        r"ownership|public_access|block_public|website|bucket_create_naming|bucket_create_exists|bucket_recreate|"
        r"bucket_head_extended|delete_bucket|bucket_encryption|"
        r"storage_class|restore|tenant|iam|sts|cloud"),
    "server-side encryption": re.compile(r"sse|encryption"),
    "s3select": re.compile(r"s3select"),
}


def left_out(name: str) -> str | None:
    """Why a test is outside the goal set, or None for one in it."""
    return next((why for why, pattern in LEFT_OUT.items() if pattern.search(name)), None)


USERS = {  # the suite's users: access key, secret key, user id, display name
    "s3 main": ("s3testmain", "s3testmain-secret", "main-id", "main user"),
    "s3 alt": ("s3testalt", "s3testalt-secret", "alt-id", "alt user"),
    "s3 tenant": ("s3testtenant", "s3testtenant-secret", "tenant-id", "tenant user"),
    "iam": ("s3testiam", "s3testiam-secret", "iam-id", "iam user"),
    "iam root": ("s3testiamroot", "s3testiamroot-secret", "iamroot-id", "iam root"),
    "iam alt root": ("s3testiamalt", "s3testiamalt-secret", "iamalt-id", "iam alt root"),
}
# SeaweedFS grows several volumes per collection (one per bucket) by default; the suite makes
# hundreds of buckets, so one volume each keeps a run within the disk and memory of this machine.
MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n"


def prepare_suite(suite: Path) -> Path:
    """The suite's virtual environment (made once), and its clean-up hooks made no-ops."""
    python = suite / ".venv" / "bin" / "python"
    if not python.exists():
        print("installing the suite's requirements into its .venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(suite / ".venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(suite / "requirements.txt")], check=True)
    init = suite / "s3tests" / "functional" / "__init__.py"
    text = init.read_text()
    hook = "def nuke_prefixed_buckets(prefix, client=None):\n"
    if hook not in text:
        raise SystemExit(f"{init}: no nuke_prefixed_buckets to leave out; is this the suite?")
    skipped = hook + "    return  # left out by bench/s3_tests.py: fresh servers, each bucket name used once\n"
    if skipped not in text:
        init.write_text(text.replace(hook, skipped))
    return python


def suite_config(path: Path, port: int) -> Path:
    sections = ["[DEFAULT]\nhost = 127.0.0.1\nport = %d\nis_secure = False\nssl_verify = False\n" % port,
                "[fixtures]\nbucket prefix = s3t-\niam name prefix = s3-tests-\niam path prefix = /s3-tests/\n"]
    for section, (key, secret, user_id, name) in USERS.items():
        lines = [f"[{section}]", f"access_key = {key}", f"secret_key = {secret}", f"user_id = {user_id}",
                 f"display_name = {name}", f"email = {user_id}@example.com", "api_name = default"]
        if section == "s3 tenant":
            lines.append("tenant = testx")
        sections.append("\n".join(lines) + "\n")
    path.write_text("\n".join(sections))
    return path


@contextmanager
def seaweedfs(root: Path) -> Iterator[SeaweedFS]:
    (root / "weed").mkdir(parents=True)
    (root / "weed" / "master.toml").write_text(MASTER_TOML)
    here = os.getcwd()
    os.chdir(root / "weed")  # weed reads master.toml from its working folder
    try:
        weed = start_seaweedfs(root / "weed" / "data", identities={key: secret for key, secret, *_ in USERS.values()})
    finally:
        os.chdir(here)
    try:
        yield weed
    finally:
        weed.stop()


def fallthrough_config(root: Path, weed: SeaweedFS, s3_port: int, buckets: int) -> Path:
    credentials = "".join(f'[[s3.credentials]]\naccess_key = "{key}"\nsecret_key = "{secret}"\n'
                          for key, secret, *_ in USERS.values())
    mounts = "".join(f'[[mount]]\nurl_prefix = "/s3t-{n}"\norigin = "s3://s3tests/s3t-{n}"\ns3_bucket = "s3t-{n}"\n'
                     'writable = true\ndefault_ttl = "1h"\nallow_http = true\n' for n in range(1, buckets + 1))
    path = root / "fallthrough.toml"
    path.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n[store]\npath = "{root / "store"}"\n'
                    f'[s3]\nlisten = "127.0.0.1:{s3_port}"\n{credentials}{mounts}')
    return path


def run_suite(python: Path, suite: Path, conf: Path, selection: str, junit: Path, timeout: int) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["S3TEST_CONF"] = str(conf)
    command = [str(python), "-m", "pytest", "s3tests/functional/test_s3.py", "-k", selection, "-q",
               "-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit1"]
    try:
        subprocess.run(command, cwd=suite, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"the suite ran past {timeout} s; what finished is counted", file=sys.stderr)


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """Test name -> (passed | failed | skipped, the first line of why)."""
    found: dict[str, tuple[str, str]] = {}
    if not junit.exists():
        return found
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        verdict, why = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                message = child.get("message") or ""
                verdict, why = "failed", message.splitlines()[0][:160] if message else ""
            elif child.tag == "skipped":
                verdict, why = "skipped", (child.get("message") or "")[:160]
        found[name] = (verdict, why)
    return found


def on_seaweedfs(root: Path, python: Path, suite: Path, args: argparse.Namespace) -> dict[str, tuple[str, str]]:
    with seaweedfs(root / "direct") as weed:
        port = int(weed.endpoint.rsplit(":", 1)[1])
        junit = root / "seaweedfs.xml"
        run_suite(python, suite, suite_config(root / "seaweedfs.conf", port), args.k, junit, args.timeout)
        return outcomes(junit)


def on_fallthrough(root: Path, python: Path, suite: Path, args: argparse.Namespace) -> dict[str, tuple[str, str]]:
    with seaweedfs(root / "behind") as weed:
        weed.create_bucket("s3tests")
        s3_port = free_port()
        config = fallthrough_config(root, weed, s3_port, args.buckets)
        log = open(root / "fallthrough.log", "wb")  # noqa: SIM115 - the child keeps it
        env = {**os.environ, **weed.env}
        server = subprocess.Popen([str(FALLTHROUGH), "serve", "--config", str(config)], stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True, env=env)
        try:
            wait_port(s3_port, timeout=60)
            junit = root / "fallthrough.xml"
            run_suite(python, suite, suite_config(root / "fallthrough.conf", s3_port), args.k, junit, args.timeout)
            return outcomes(junit)
        finally:
            stop(server)


def counts(results: dict[str, tuple[str, str]], names: set[str]) -> str:
    verdicts = [results.get(name, ("missing", ""))[0] for name in names]
    passed, failed, skipped = (verdicts.count(v) for v in ("passed", "failed", "skipped"))
    return f"{passed} passed / {failed} failed / {skipped} skipped"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="folder of a copy of the suite")
    parser.add_argument("-k", default=SELECTION, help=f"the selection, as pytest -k takes it (default: {SELECTION})")
    parser.add_argument("--only", choices=["seaweedfs", "fallthrough"], help="run the suite against one server")
    parser.add_argument("--buckets", type=int, default=800, help="mount buckets fallthrough serves (default 800)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per server before the run is cut")
    parser.add_argument("--keep", type=Path, help="keep the servers' logs and the suite's results here")
    parser.add_argument("--list", action="store_true", help="list each test SeaweedFS passes and fallthrough fails")
    args = parser.parse_args()
    suite = args.suite.resolve()
    if not (suite / "s3tests" / "functional" / "test_s3.py").exists():
        print(f"{suite}: not a copy of the suite", file=sys.stderr)
        return 2
    python = prepare_suite(suite)
    root = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="s3-tests-"))
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, tuple[str, str]]] = {}
    for who, run in (("seaweedfs", on_seaweedfs), ("fallthrough", on_fallthrough)):
        if args.only in (None, who):
            print(f"running the suite against {who} ...", flush=True)
            results[who] = run(root, python, suite, args)
    names = set().union(*(set(r) for r in results.values()))
    goal = {name for name in names if left_out(name) is None}
    print(f"\n{len(names)} tests selected (-k {args.k!r}), {len(goal)} in the goal set")
    for who, found in results.items():
        print(f"  {who:12} all: {counts(found, names)}   goal set: {counts(found, goal)}")
    for why in LEFT_OUT:
        group = {name for name in names if left_out(name) == why}
        if group:
            print(f"  left out, {why} ({len(group)}): " + "; ".join(f"{who} {counts(found, group).split(' /')[0]}"
                                                                 for who, found in results.items()))
    if len(results) == 2:
        behind = sorted(name for name in goal if results["seaweedfs"].get(name, ("",))[0] == "passed"
                        and results["fallthrough"].get(name, ("",))[0] != "passed")
        ahead = sorted(name for name in goal if results["fallthrough"].get(name, ("",))[0] == "passed"
                       and results["seaweedfs"].get(name, ("",))[0] != "passed")
        print(f"  goal set: {len(behind)} pass on SeaweedFS only, {len(ahead)} on fallthrough only")
        if args.list:
            for name in behind:
                print(f"    {name}: {results['fallthrough'].get(name, ('missing', ''))[1]}")
    print(f"logs and results: {root}" if args.keep else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
