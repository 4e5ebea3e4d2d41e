"""Avatar hashes → prompts and seeds: deterministic, documented, within every renderer's range."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.transforms.avatars.prompt import TABLES, BadHash, normal_hash, portrait

hashes = st.one_of(st.binary(min_size=16, max_size=16), st.binary(min_size=32, max_size=32)).map(bytes.hex)


def test_every_table_has_a_power_of_two_length_so_choices_are_even() -> None:
    for table in TABLES:
        assert len(table) & (len(table) - 1) == 0 and len(set(table)) == len(table)


def test_a_known_hash_gives_a_known_portrait() -> None:
    # The MD5 of "test@example.com", as a Gravatar URL carries it.
    md5 = hashlib.md5(b"test@example.com").hexdigest()
    drawn = portrait(md5)
    raw = bytes.fromhex(md5)
    assert drawn.who == TABLES[0][raw[0] % 8]
    assert drawn.seed == int.from_bytes(raw[12:16], "big") & 0x7FFFFFFF
    assert drawn.hair_colour in drawn.prompt and drawn.setting in drawn.prompt


@given(hashes)
def test_case_does_not_matter_and_the_seed_fits_signed_32_bits(value: str) -> None:
    drawn = portrait(value)
    assert portrait(value.upper()) == drawn
    assert 0 <= drawn.seed < 2**31
    for word in (drawn.who, drawn.hair_colour, drawn.hair_style, drawn.eye_colour, drawn.clothing, drawn.setting,
                 drawn.time_of_day, drawn.art_style):
        assert word in drawn.prompt


@given(st.binary(min_size=32, max_size=32))
def test_a_sha256_reads_like_its_first_half(raw: bytes) -> None:
    assert portrait(raw.hex()) == portrait(raw[:16].hex())


@given(st.text(max_size=70))
def test_anything_else_is_refused(text: str) -> None:
    stripped = text.strip().lower()
    valid = len(stripped) in (32, 64) and all(c in "0123456789abcdef" for c in stripped)
    if valid:
        assert normal_hash(text) == stripped
    else:
        with pytest.raises(BadHash):
            normal_hash(text)


def test_the_same_in_another_process() -> None:
    value = hashlib.sha256(b"someone@example.org").hexdigest()
    code = ("from fallthrough.transforms.avatars.prompt import portrait;"
            f"p = portrait('{value}'); print(p.seed, p.prompt)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    here = portrait(value)
    assert other == f"{here.seed} {here.prompt}"
