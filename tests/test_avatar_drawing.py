"""Avatar drawings: exact sizes, the same pixels every time, and attributes a person can actually see."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
import pyvips
from hypothesis import given
from hypothesis import strategies as st

from fallthrough.transforms.avatars import prompt
from fallthrough.transforms.avatars.classic import CLASSIC, render_classic
from fallthrough.transforms.avatars.drawing.palette import CLOTH, EYES, HAIR, SKIN
from fallthrough.transforms.avatars.portrait import portrait_svg, render_portrait
from fallthrough.transforms.avatars.prompt import Portrait, portrait

RGB = tuple[int, int, int]
hashes = st.binary(min_size=16, max_size=16).map(bytes.hex)

# One portrait to vary: flat colours at noon, so the table colours reach the pixels unchanged.
BASE = dataclasses.replace(
    portrait(hashlib.md5(b"base@example.com").hexdigest()), who="woman", hair_style="long straight",
    hair_colour="pink", eye_colour="blue", skin_tone="medium", clothing="t-shirt", clothing_colour="green",
    expression="smiling", setting="desert", time_of_day="noon", art_style="flat vector illustration",
    accessory="no accessories")
FIELDS = ("who", "hair_colour", "hair_style", "eye_colour", "skin_tone", "clothing", "clothing_colour", "expression",
          "setting", "time_of_day", "art_style", "accessory")


@pytest.fixture(autouse=True)
def no_operation_cache() -> Iterator[None]:
    """The image library would hand back a cached result for a repeated call; these tests want every render afresh."""
    saved = pyvips.cache_get_max()
    pyvips.cache_set_max(0)
    yield
    pyvips.cache_set_max(saved)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def raw(image: pyvips.Image) -> bytes:
    return bytes(image.write_to_memory())


def pixels(image: pyvips.Image) -> list[RGB]:
    data = raw(image)
    return [tuple(data[i:i + 3]) for i in range(0, len(data), 3)]  # type: ignore[misc]


def near(found: RGB, wanted: tuple[float, float, float], tolerance: float = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(found, wanted))


def share(image: pyvips.Image, colour: tuple[float, float, float], tolerance: float = 12) -> float:
    """The fraction of the image's pixels within `tolerance` of `colour` in every channel."""
    found = pixels(image)
    return sum(near(p, colour, tolerance) for p in found) / len(found)


def region(image: pyvips.Image, x: float, y: float, w: float, h: float) -> pyvips.Image:
    """A part of the picture given as fractions of its size."""
    s = image.width
    return image.crop(int(x * s), int(y * s), int(w * s), int(h * s))


# ---------------------------------------------------------------------------------------------- portraits: form

@pytest.mark.parametrize("size", [1, 2, 80, 333, 512])
def test_a_portrait_is_exactly_the_size_asked_in_three_bands_of_srgb(size: int) -> None:
    image = render_portrait(portrait(md5("sizes@example.com")), size)
    assert (image.width, image.height, image.bands) == (size, size, 3)
    assert image.format == "uchar" and image.interpretation == "srgb"
    assert len(raw(image)) == size * size * 3


def test_the_largest_portrait() -> None:
    image = render_portrait(BASE, 2048)
    assert (image.width, image.height, image.bands, image.format) == (2048, 2048, 3, "uchar")


@pytest.mark.parametrize("size", [1, 7, 47, 80, 100, 481])
def test_pixel_art_is_exactly_the_size_asked_too(size: int) -> None:
    image = render_portrait(dataclasses.replace(BASE, art_style="pixel art"), size)
    assert (image.width, image.height, image.bands) == (size, size, 3)


def test_pixel_art_is_made_of_whole_blocks() -> None:
    # 480 = 48 blocks of 10 pixels: every 10×10 block is one colour.
    image = render_portrait(dataclasses.replace(BASE, art_style="pixel art"), 480)
    blocks = image.subsample(10, 10).zoom(10, 10)
    assert raw(blocks) == raw(image)


@pytest.mark.parametrize("size", [0, -1, 2049])
def test_sizes_out_of_range_are_refused(size: int) -> None:
    with pytest.raises(ValueError):
        render_portrait(BASE, size)
    with pytest.raises(ValueError):
        render_classic("identicon", md5("x"), size)


def test_the_svg_is_a_512_unit_document_the_loader_can_read() -> None:
    svg = portrait_svg(BASE)
    assert svg.startswith("<svg") and 'viewBox="0 0 512 512"' in svg
    assert pyvips.Image.svgload_buffer(svg.encode()).width == 512
    assert portrait_svg(BASE) == svg


# ---------------------------------------------------------------------------------------------- portraits: the same

@given(hashes)
def test_the_same_hash_gives_the_same_bytes(value: str) -> None:
    p = portrait(value)
    assert raw(render_portrait(p, 40)) == raw(render_portrait(p, 40))


def test_the_same_bytes_at_full_size_every_time() -> None:
    p = portrait(md5("again@example.com"))
    first = raw(render_portrait(p, 512))
    assert all(raw(render_portrait(p, 512)) == first for _ in range(3))


def _digests() -> dict[str, str]:
    value = md5("elsewhere@example.com")
    images = {"portrait": render_portrait(portrait(value), 96)}
    images.update({name: render_classic(name, value, 96) for name in CLASSIC})
    return {name: hashlib.sha256(raw(image)).hexdigest() for name, image in images.items()}


def test_the_same_bytes_in_another_process() -> None:
    code = ("import json, pyvips, sys; pyvips.cache_set_max(0); sys.path.insert(0, 'tests'); "
            "from test_avatar_drawing import _digests; print(json.dumps(_digests()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import json
    assert json.loads(out) == _digests()


def test_different_hashes_give_different_portraits() -> None:
    images = [raw(render_portrait(portrait(md5(f"user{i}@example.com")), 64)) for i in range(12)]
    assert len(set(images)) == len(images)


# ---------------------------------------------------------------------------------------------- portraits: visible

@pytest.mark.parametrize("field", FIELDS)
def test_every_value_of_every_table_draws_and_shows(field: str) -> None:
    table = prompt.TABLES[FIELDS.index(field)]
    drawn = {value: raw(render_portrait(dataclasses.replace(BASE, **{field: value}), 128))
             for value in table}
    assert len(set(drawn.values())) == len(table), f"some {field} values look alike"


@pytest.mark.parametrize("style", prompt.ART_STYLES)
def test_every_art_style_draws_every_hair_style(style: str) -> None:
    for hair in prompt.HAIR_STYLES:
        image = render_portrait(dataclasses.replace(BASE, art_style=style, hair_style=hair), 24)
        assert image.width == 24


def test_the_hair_colour_is_in_the_picture() -> None:
    pink = render_portrait(BASE, 256)
    teal = render_portrait(dataclasses.replace(BASE, hair_colour="teal"), 256)
    assert share(pink, HAIR["pink"]) > 0.03 and share(pink, HAIR["teal"]) < 0.002
    assert share(teal, HAIR["teal"]) > 0.03 and share(teal, HAIR["pink"]) < 0.002
    assert near(HAIR["pink"], (240, 124, 185), 20)   # pink looks pink, not just "the table's colour"


def test_an_afro_holds_much_more_hair_than_a_buzz_cut() -> None:
    afro = render_portrait(dataclasses.replace(BASE, hair_style="afro"), 256)
    buzz = render_portrait(dataclasses.replace(BASE, hair_style="buzz-cut"), 256)
    assert share(afro, HAIR["pink"], 30) > 4 * share(buzz, HAIR["pink"], 30)


def test_the_eye_colour_shows_in_the_eyes() -> None:
    def eyes(colour: str) -> pyvips.Image:
        return region(render_portrait(dataclasses.replace(BASE, eye_colour=colour), 512), 0.3, 0.38, 0.4, 0.14)

    blue, brown = eyes("blue"), eyes("brown")
    assert share(blue, EYES["blue"]) > 0.01 and share(blue, EYES["brown"]) == 0
    assert share(brown, EYES["brown"]) > 0.01 and share(brown, EYES["blue"]) == 0


def test_the_skin_tone_is_the_face() -> None:
    for tone in ("very light", "dark brown"):
        face = region(render_portrait(dataclasses.replace(BASE, skin_tone=tone), 256), 0.38, 0.4, 0.24, 0.2)
        assert share(face, SKIN[tone]) > 0.3


def test_the_clothing_colour_fills_the_bottom_of_the_picture() -> None:
    for colour in ("red", "navy", "yellow", "cream"):
        image = render_portrait(dataclasses.replace(BASE, clothing_colour=colour), 256)
        assert share(region(image, 0.3, 0.88, 0.4, 0.12), CLOTH[colour]) > 0.5


def test_the_sky_follows_the_time_of_day() -> None:
    def sky(time: str) -> tuple[float, ...]:
        corner = region(render_portrait(dataclasses.replace(BASE, time_of_day=time), 128), 0, 0, 0.2, 0.1)
        return tuple(corner.stats()(4, i)[0] for i in range(1, 4))   # mean of each band

    noon, night, dusk = sky("noon"), sky("night"), sky("dusk")
    assert noon[2] > 180 and noon[2] > noon[0] + 60       # bright and blue
    assert max(night) < 50                                  # dark
    assert dusk[2] > dusk[1] and dusk[0] > dusk[1]          # purple
    assert len({sky(t) for t in prompt.TIMES_OF_DAY}) == len(prompt.TIMES_OF_DAY)


def test_a_child_is_smaller_than_a_grown_woman() -> None:
    woman = render_portrait(BASE, 128)
    girl = render_portrait(dataclasses.replace(BASE, who="girl"), 128)
    assert share(girl, CLOTH["green"]) < 0.85 * share(woman, CLOTH["green"])


def test_the_seed_varies_only_small_things() -> None:
    other = dataclasses.replace(BASE, seed=BASE.seed ^ 0x5A5A5A5)
    a, b = render_portrait(BASE, 128), render_portrait(other, 128)
    assert raw(a) != raw(b)
    assert abs(share(a, HAIR["pink"]) - share(b, HAIR["pink"])) < 0.03


# ---------------------------------------------------------------------------------------------- classic

@pytest.mark.parametrize("name", CLASSIC)
@pytest.mark.parametrize("size", [1, 2, 80, 512])
def test_a_classic_is_exactly_the_size_asked(name: str, size: int) -> None:
    image = render_classic(name, md5("classic@example.com"), size)
    assert (image.width, image.height, image.format, image.interpretation) == (size, size, "uchar", "srgb")
    assert image.bands == (4 if name == "blank" else 3)


@pytest.mark.parametrize("name", [n for n in CLASSIC if n not in ("mp", "blank")])
def test_each_classic_differs_between_hashes(name: str) -> None:
    drawn = {raw(render_classic(name, md5(f"someone{i}@example.com"), 96)) for i in range(6)}
    assert len(drawn) == 6


@given(hashes, st.integers(min_value=1, max_value=300))
def test_identicons_and_retro_faces_are_mirror_symmetric(value: str, size: int) -> None:
    for name in ("identicon", "retro"):
        image = render_classic(name, value, size)
        assert raw(image.fliphor()) == raw(image)


def test_an_identicon_is_two_colours_on_a_light_ground() -> None:
    image = render_classic("identicon", md5("pattern@example.com"), 120)
    colours = set(pixels(image))
    assert len(colours) == 2 and (240, 240, 240) in colours


def test_the_mystery_person_is_the_same_for_everyone() -> None:
    drawn = {raw(render_classic("mp", md5(f"anyone{i}@example.com"), 80)) for i in range(4)}
    drawn.add(raw(render_classic("mp", hashlib.sha256(b"x").hexdigest(), 80)))
    assert len(drawn) == 1


def test_blank_is_fully_transparent() -> None:
    image = render_classic("blank", md5("nobody@example.com"), 64)
    assert image.extract_band(3).max() == 0


def test_a_sha256_hash_is_accepted() -> None:
    value = hashlib.sha256(b"long@example.com").hexdigest()
    for name in CLASSIC:
        assert render_classic(name, value, 32).width == 32


def test_unknown_names_and_bad_hashes_are_refused() -> None:
    with pytest.raises(ValueError):
        render_classic("unicorn", md5("x"), 80)
    with pytest.raises(ValueError):
        render_classic("identicon", "not a hash", 80)


def test_portraits_take_any_portrait() -> None:
    # The renderer draws from the dataclass alone, so hand-built portraits work like hashed ones.
    made = Portrait(*(table[0] for table in prompt.TABLES), seed=0)
    assert render_portrait(made, 16).width == 16
