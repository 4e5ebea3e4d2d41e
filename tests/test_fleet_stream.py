"""What a fill's stream in Redis holds is data from elsewhere: any entry is read as one of
the events a lead tells, or as none, never as an exception; and every event a lead
tells reads back as itself."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from fallthrough.cache.fleet_fills import LeadChunks, LeadEnd, LeadEvent, LeadFailed, LeadHead, LeadPassed
from fallthrough.castore import B3Digest
from fallthrough.fleet.fills import decode, encode

Infinity, NaN = math.inf, math.nan
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=12)
kinds = st.sampled_from([b"head", b"chunks", b"end", b"failed", b"passed", b"other"])


@settings(max_examples=400, deadline=None)
@given(kind=kinds | st.binary(max_size=8), data=json_values, raw=st.binary(max_size=40), use_raw=st.booleans())
def test_any_entry_is_an_event_or_none(kind: bytes, data: object, raw: bytes, use_raw: bool) -> None:
    fields = {b"t": kind, b"d": raw if use_raw else json.dumps(data).encode()}
    event = decode(fields)
    assert event is None or isinstance(event, LeadHead | LeadChunks | LeadEnd | LeadFailed | LeadPassed)


def test_an_entry_without_its_fields_is_none() -> None:
    assert decode({}) is None
    assert decode({b"t": b"head"}) is None
    head = {"status": Infinity, "headers": [], "length": None, "vary": [], "variant": [], "request_time": 1,
            "response_time": 1, "age": 0}
    assert decode({b"t": b"head", b"d": json.dumps(head).encode()}) is None
    assert decode({b"t": b"head", b"d": json.dumps({**head, "status": 200, "age": NaN}).encode()}) is None
    assert decode({b"t": b"head", b"d": json.dumps({**head, "status": 200, "length": -1}).encode()}) is None
    assert decode({b"t": b"head", b"d": json.dumps({**head, "status": 200}).encode()}) is not None
    assert decode({b"t": b"chunks", b"d": b'{"offset": -1, "chunks": []}'}) is None
    assert decode({b"t": b"chunks", b"d": b'{"offset": 0, "chunks": [["00", 5]]}'}) is None  # not a digest
    assert decode({b"t": b"chunks", b"d": json.dumps({"offset": 0, "chunks": [["ab" * 32, 0]]}).encode()}) is None


digests = st.binary(min_size=32, max_size=32).map(B3Digest)
headers = st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=4)
texts = st.lists(st.text(), max_size=3).map(tuple)
times = st.floats(min_value=0, max_value=4e9)


@settings(max_examples=200, deadline=None)
@given(event=st.one_of(
    st.builds(LeadHead, st.integers(100, 599), headers, st.none() | st.integers(0, 2**50), texts, texts, times,
              times, times),
    st.builds(LeadChunks, st.integers(0, 2**50), st.lists(st.tuples(digests, st.integers(1, 2**20)), max_size=4)),
    st.builds(LeadEnd, digests, st.integers(0, 2**50), st.none() | st.just({"key": "/a"})),
    st.builds(LeadFailed, st.text()),
    st.just(LeadPassed()),
))
def test_what_a_lead_tells_reads_back_as_itself(event: LeadEvent) -> None:
    kind, data = encode(event)
    back = decode({b"t": kind.encode(), b"d": json.dumps(data).encode()})
    if isinstance(event, LeadHead):  # JSON has lists where the event has tuples
        assert back == LeadHead(event.status, [tuple(h) for h in event.headers], event.length, event.vary,
                                event.variant, event.request_time, event.response_time, event.initial_age)
    else:
        assert back == event
