"""The IIIF Image API 3.0 end to end: the official validator at level 2, and the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_server import EdgeServer, request
from image_files import LOADERS, describe, photo

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "iiif"
IDENTIFIER = "67352ccc-d1b0-11e1-89ae-279075081939"
VALIDATOR = str(Path(sys.executable).with_name("iiif-validate.py"))


def _testdata() -> Path:
    """The validator's own test image: ../shared/testdata/iiif/, beside the checkout."""
    for candidate in (TESTDATA, Path("/work/shared/testdata/iiif")):
        if (candidate / f"{IDENTIFIER}.png").is_file():
            return candidate
    pytest.fail(f"the IIIF test image {IDENTIFIER}.png is missing from {TESTDATA}")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeServer]:
    images = tmp_path_factory.mktemp("iiif-images")
    (images / f"{IDENTIFIER}.png").write_bytes((_testdata() / f"{IDENTIFIER}.png").read_bytes())
    (images / "photo.png").write_bytes(b"")  # replaced below by a real one
    (images / "photo.jpg").write_bytes(photo(3000, 2000))
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    config = (f'[[mount]]\nurl_prefix = "/img"\norigin = "file://{images}"\ndefault_ttl = "1h"\n'
              f'[[iiif]]\nurl_prefix = "/iiif/3"\nsource = "/img/{{identifier}}.png"\n'
              f'[[iiif]]\nurl_prefix = "/photos"\nsource = "/img/{{identifier}}.jpg"\nmax_area = 4000000\n')
    with EdgeServer(tmp_path_factory.mktemp("iiif"), config) as server:
        yield server


def test_the_validator_passes_at_level_2_with_no_failures(edge: EdgeServer) -> None:
    run = subprocess.run([sys.executable, VALIDATOR, "-s", f"127.0.0.1:{edge.port}", "-p", "iiif/3",
                          "-i", IDENTIFIER, "--version=3.0", "--level", "2"],
                         capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "FAIL" not in output
    assert output.count("PASS") >= 30, output


def test_info_json(edge: EdgeServer) -> None:
    reply = request(f"{edge.url}/iiif/3/{IDENTIFIER}/info.json")
    assert reply.status == 200
    assert reply.header("content-type") == "application/json"
    assert reply.header("access-control-allow-origin") == "*"
    info = json.loads(reply.body)
    assert info["id"] == f"{edge.url}/iiif/3/{IDENTIFIER}"
    assert (info["type"], info["profile"], info["width"], info["height"]) == ("ImageService3", "level2", 1000, 1000)
    ld = request(f"{edge.url}/iiif/3/{IDENTIFIER}/info.json", headers={"Accept": "application/ld+json"})
    assert ld.header("content-type") == 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    assert ld.header("vary") == "Accept"
    again = request(f"{edge.url}/iiif/3/{IDENTIFIER}/info.json")
    assert again.header("x-cache") == "HIT" and again.header("content-type") == "application/json"
    limited = json.loads(request(f"{edge.url}/photos/photo/info.json").body)
    assert (limited["width"], limited["height"], limited["maxArea"]) == (3000, 2000, 4000000)


def test_the_base_uri_redirects_to_info_json(edge: EdgeServer) -> None:
    reply = request(f"{edge.url}/iiif/3/{IDENTIFIER}")
    assert reply.status == 303
    assert reply.header("location") == f"/iiif/3/{IDENTIFIER}/info.json"


@pytest.mark.parametrize("parameters, size", [
    ("full/max/0/default.png", (1000, 1000)),
    ("square/100,/0/default.webp", (100, 100)),
    ("0,0,500,250/250,/90/gray.jpg", (125, 250)),
    ("pct:50,50,50,50/max/!180/bitonal.png", (500, 500)),
    ("full/^1200,/0/color.avif", (1200, 1200)),
])
def test_images_are_rendered_and_cached(edge: EdgeServer, parameters: str, size: tuple[int, int]) -> None:
    url = f"{edge.url}/iiif/3/{IDENTIFIER}/{parameters}"
    reply = request(url)
    assert reply.status == 200, reply.body
    fmt = {"jpg": "jpeg"}.get(parameters.rsplit(".", 1)[1], parameters.rsplit(".", 1)[1])
    assert reply.header("content-type") == f"image/{fmt}"
    assert describe(reply.body) == (LOADERS[fmt], *size)
    assert reply.header("link") == '<http://iiif.io/api/image/3/level2.json>;rel="profile"'
    assert request(url).header("x-cache") == "HIT"


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(edge: EdgeServer) -> None:
    reply = request(f"{edge.url}/photos/photo/full/300,/0/default.jpg")
    assert reply.status == 200 and describe(reply.body) == (LOADERS["jpeg"], 300, 200)
    # The limits apply to what is asked for, whatever the source.
    assert request(f"{edge.url}/photos/photo/full/max/0/default.jpg").status == 200
    assert request(f"{edge.url}/photos/photo/full/^3000,2000/0/default.jpg").status == 400


@pytest.mark.parametrize("path, status", [
    (f"{IDENTIFIER}/full/max/0/default.gif", 501),
    (f"{IDENTIFIER}/full/max/22.5/default.jpg", 501),
    (f"{IDENTIFIER}/full/max/0/default.bmp", 400),
    (f"{IDENTIFIER}/nonsense/max/0/default.jpg", 400),
    (f"{IDENTIFIER}/full/full/0/default.jpg", 400),
    (f"{IDENTIFIER}/2000,0,10,10/max/0/default.jpg", 400),
    (f"{IDENTIFIER}/full/2000,/0/default.jpg", 400),
    (f"{IDENTIFIER}/full/max/0/sepia.jpg", 400),
    ("no-such-image/full/max/0/default.jpg", 404),
    ("no-such-image/info.json", 404),
    ("broken/full/max/0/default.jpg", 422),
])
def test_errors_as_the_specification_says(edge: EdgeServer, path: str, status: int) -> None:
    reply = request(f"{edge.url}/iiif/3/{path}")
    assert reply.status == status, reply.body
    assert reply.header("access-control-allow-origin") == "*"
    assert reply.header("content-type", ) == "text/plain; charset=utf-8"


segment = st.one_of(
    st.sampled_from(["full", "square", "max", "^max", "0", "90", "!180", "pct:10", "pct:10,10,50,50", "10,10,100,100",
                     "!100,100", "^!3000,10", "100,", ",100", "^,2000", "default.jpg", "gray.png", "bitonal.webp",
                     "color.avif", "360", "-90", "pct:0", "0,0,0,0", "1e3,", "pct:101", "99999999999,"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"), min_size=1,
            max_size=12),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(region=segment, size=segment, rotation=segment, quality=segment, fmt=st.sampled_from(["jpg", "png", "x"]))
def test_fuzzed_parameters_get_only_2xx_4xx_or_501(edge: EdgeServer, region: str, size: str, rotation: str,
                                                   quality: str, fmt: str) -> None:
    name = quality if "." in quality else f"{quality}.{fmt}"
    reply = request(f"{edge.url}/iiif/3/{IDENTIFIER}/{region}/{size}/{rotation}/{name}")
    assert 200 <= reply.status < 300 or 400 <= reply.status < 500 or reply.status == 501, \
        (reply.status, reply.body[:200])
