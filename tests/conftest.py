"""Shared fixtures: a SeaweedFS for the whole session, and stores of every kind."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

from seaweed import SeaweedFS, start_seaweedfs  # noqa: E402

settings.register_profile(
    "default", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_bucket_names = itertools.count()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_url(seaweedfs: SeaweedFS) -> str:
    """A fresh, empty prefix in a real bucket."""
    seaweedfs.create_bucket("castore")
    return f"s3://castore/t{os.getpid()}-{next(_bucket_names)}"


@pytest.fixture(params=["memory", "file", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One URL of each backend kind; s3 runs against the session's SeaweedFS."""
    if request.param == "memory":
        return "memory://"
    if request.param == "file":
        return f"file://{tmp_path}/store"
    return request.getfixturevalue("s3_url")
