"""Stable Diffusion in this process, with diffusers, from a model directory on local disk.

For an edge that has its own GPU (or can wait for a CPU): no service to run beside it.
torch and diffusers are an optional extra (`pip install 'fallthrough[diffusion]'`) and
are imported only when the first image is drawn, so the edge starts, and every other
renderer works, without them; asking this one for an image then says what to install.

Images are reproducible: the noise comes from a generator seeded with the portrait's
seed, and every other input (model, steps, guidance) is named by `version`, which is part
of the cache key. Nothing is fetched from a model hub: the model is a directory written
by `save_pretrained`, loaded with local_files_only=True, and no global setting is
changed, so other users of diffusers in the same process are left as they were.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pyvips

from .prompt import TABLE_VERSION, Portrait
from .remote import RendererError

# Bumped when this renderer changes how it draws, so cached images are made anew.
RENDERER_VERSION = "1"
NEEDS_EXTRA = "the diffusion renderer needs the optional extra: pip install 'fallthrough[diffusion]'"
# Small text files that decide what a model does: configs, tokenizer vocabularies.
_CONFIG_SUFFIXES = (".json", ".txt")
# Weights are too large to hash on every start; their names and sizes stand for them.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".onnx", ".gguf")
_DIGEST_CHARS = 16
_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class DiffusionOptions:
    model: str
    device: str = "cpu"
    steps: int = 20
    cfg_scale: float = 7.0


class DiffusionRenderer:
    """Draws portraits with one pipeline, loaded on first use and used by one thread at a time."""

    name = "diffusers"

    def __init__(self, options: DiffusionOptions) -> None:
        self._options = options
        self._path = Path(options.model)
        # One lock for loading and for drawing: a pipeline keeps state (the scheduler's
        # timesteps) between calls, so two threads must never be inside it at once.
        self._lock = threading.Lock()
        self._pipeline: Any = None

    @functools.cached_property
    def version(self) -> str:
        """The model's digest, the sampler settings and the device kind: what changes the image.

        The device kind is there because the noise of a CUDA generator is not that of a CPU
        one, so the same seed draws another image on each.
        """
        o = self._options
        device_kind = o.device.partition(":")[0]
        return (f"diffusers/{RENDERER_VERSION}/{model_digest(self._path)}/{o.steps}/{o.cfg_scale:g}/"
                f"{device_kind}/{TABLE_VERSION}")

    def render(self, portrait: Portrait, size: int) -> bytes:
        """PNG bytes of a size × size image of the portrait. Blocks: run it on a thread."""
        if size <= 0 or size % 8:
            raise RendererError(f"the diffusion renderer draws sizes that are multiples of 8, not {size}")
        with self._lock:
            pipeline = self._loaded()
            pixels = self._draw(pipeline, portrait, size)
        return _png(pixels)

    def _loaded(self) -> Any:
        if self._pipeline is None:
            self._pipeline = _load(self._path, self._options.device)
        return self._pipeline

    def _draw(self, pipeline: Any, portrait: Portrait, size: int) -> Any:
        import torch

        o = self._options
        try:
            generator = torch.Generator(device=o.device).manual_seed(portrait.seed)
            with torch.inference_mode():
                result = pipeline(prompt=portrait.prompt, negative_prompt=portrait.negative_prompt,
                                  num_inference_steps=o.steps, guidance_scale=o.cfg_scale, height=size,
                                  width=size, generator=generator, output_type="np")
            return result.images[0]
        except Exception as exc:  # any failure inside torch becomes one line
            raise RendererError(f"the diffusion renderer failed: {_describe(exc)}") from None

    def close(self) -> None:
        """Lets the pipeline go, which frees its memory (on a GPU too)."""
        with self._lock:
            if self._pipeline is None:
                return
            self._pipeline = None
            if self._options.device.startswith("cuda"):
                import torch

                torch.cuda.empty_cache()


def model_digest(path: Path) -> str:
    """A short blake3 over the model's configs and its weights' names and sizes."""
    if not (path / "model_index.json").is_file():
        raise RendererError(f"no diffusers model at {path}: model_index.json is missing")
    digest = blake3.blake3()
    try:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            name = file.relative_to(path).as_posix()
            if file.suffix in _CONFIG_SUFFIXES:
                digest.update(f"config {name} {file.stat().st_size}\n".encode())
                digest.update(file.read_bytes())
            elif file.suffix in _WEIGHT_SUFFIXES:
                digest.update(f"weights {name} {file.stat().st_size}\n".encode())
    except OSError as exc:
        raise RendererError(f"the model at {path} could not be read: {exc.strerror or exc}") from None
    return digest.hexdigest()[:_DIGEST_CHARS]


def _load(path: Path, device: str) -> Any:
    """The pipeline from a local directory, on its device, or RendererError naming the path."""
    try:
        import diffusers
        import torch  # noqa: F401 - diffusers needs it; its absence means the extra is missing
    except ImportError:
        raise RendererError(NEEDS_EXTRA) from None
    index = _model_index(path)
    options: dict[str, Any] = {"local_files_only": True}
    if "safety_checker" in index:
        # The model is the operator's choice, and so is what it may draw. A pipeline saved
        # without a checker cannot load one offline either: it would be fetched from a hub.
        options.update(safety_checker=None, requires_safety_checker=False)
    try:
        pipeline = diffusers.AutoPipelineForText2Image.from_pretrained(str(path), **options)
    except Exception as exc:  # a broken model can fail in many ways
        raise RendererError(f"the model at {path} could not be loaded: {_describe(exc)}") from None
    try:
        pipeline = pipeline.to(device)
    except Exception as exc:  # no such device, or no driver for it
        raise RendererError(f"the device {device!r} cannot be used: {_describe(exc)}") from None
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _model_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads((path / "model_index.json").read_text())
    except FileNotFoundError:
        raise RendererError(f"no diffusers model at {path}: model_index.json is missing") from None
    except (OSError, ValueError):
        raise RendererError(f"the model at {path} has a model_index.json that cannot be read") from None
    if not isinstance(index, dict):
        raise RendererError(f"the model at {path} has a model_index.json that is not an object")
    return index


def _png(pixels: Any) -> bytes:
    """Floats in [0, 1], height × width × bands, as PNG: rounded as diffusers rounds for PIL."""
    import numpy

    data = numpy.ascontiguousarray((pixels * 255).round().clip(0, 255).astype(numpy.uint8))
    height, width, bands = data.shape
    image = pyvips.Image.new_from_memory(data.tobytes(), width, height, bands, "uchar")
    return image.pngsave_buffer()


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"
