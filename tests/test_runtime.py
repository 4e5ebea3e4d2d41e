"""Start-up settings the hot paths rely on."""

from __future__ import annotations

import platform

import pytest

from fallthrough.runtime import tune_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_allocator_thresholds_apply_on_glibc() -> None:
    assert tune_allocator() is True
