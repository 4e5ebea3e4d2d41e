"""A tiny Stable Diffusion pipeline with random weights, built in code for the tests.

Nothing can be downloaded here, and a real model is gigabytes, so the tests draw with a
pipeline of the same architecture (text encoder, UNet, VAE, scheduler, tokenizer) scaled
down to about 120,000 parameters. It draws noise, not faces, but it goes through every
step the renderer takes with a real model: loading a saved directory, tokenising the
prompt, denoising from a seeded generator and decoding. Its VAE halves the image three
times, as a real one does, so sizes must be multiples of 8 here too.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

HIDDEN = 32
START, END = "<|startoftext|>", "<|endoftext|>"


def _byte_characters() -> list[str]:
    """The 256 characters that byte-level BPE uses for the 256 byte values (the GPT-2 map)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def _tokenizer(directory: Path) -> CLIPTokenizer:
    """A CLIP tokenizer with no merges: every character is a token, which is all a test needs."""
    characters = _byte_characters()
    tokens = characters + [c + "</w>" for c in characters] + [START, END]
    vocab_file, merges_file = directory / "vocab.json", directory / "merges.txt"
    vocab_file.write_text(json.dumps({token: i for i, token in enumerate(tokens)}, ensure_ascii=False))
    merges_file.write_text("#version: 0.2\n")
    return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=77)


def _text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=37,
                            num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                            bos_token_id=tokenizer.convert_tokens_to_ids(START),
                            eos_token_id=tokenizer.convert_tokens_to_ids(END),
                            pad_token_id=tokenizer.convert_tokens_to_ids(END))
    return CLIPTextModel(config)


def _unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN, attention_head_dim=4, norm_num_groups=4,
    )


def _vae() -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=4, sample_size=64,
    )


def build_tiny_pipeline(directory: Path) -> Path:
    """Saves the tiny pipeline into directory (the same weights every time) and returns it."""
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = _tokenizer(Path(scratch))
    torch.manual_seed(0)
    pipeline = StableDiffusionPipeline(
        vae=_vae(), text_encoder=_text_encoder(tokenizer), tokenizer=tokenizer, unet=_unet(),
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                clip_sample=False, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory)
    return directory
