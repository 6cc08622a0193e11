"""torchaudio's Conv-TasNet state dict -> a Cocktail checkpoint, in memory.

torchaudio publishes its separator as a bare state dict: ``conv_tasnet_base_libri2mix.pt``, the file
``torchaudio.pipelines.CONVTASNET_BASE_LIBRI2MIX`` downloads and loads into ``conv_tasnet_base()``
(Libri2Mix, 8 kHz, 2 sources). The file holds tensors only: the sizes (N, L, B, H, P, the number of
sources and of blocks) are read from the weights' shapes; what the weights cannot say is taken from
``conv_tasnet_base``: 8 dilated blocks per stack, ReLU masks, and the pipeline's 8 kHz. The
weights run on Cocktail's port ``torchaudio-convtasnet`` (``models/torchaudio_convtasnet.py``).
torchaudio itself is never imported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Union

import torch

FORMAT_NAME = "cocktail-checkpoint"  # as checkpoints.FORMAT_NAME (not imported: no cycle)
SOURCE_FORMAT = "torchaudio ConvTasNet state dict (conv_tasnet_base)"
PORT = "torchaudio-convtasnet"
# What conv_tasnet_base() and the CONVTASNET_BASE_LIBRI2MIX pipeline fix and the file does not hold.
LAYERS_PER_STACK = 8
MASK_ACTIVATION = "relu"
SAMPLE_RATE = 8000
_MARKERS = (
    "encoder.weight",
    "decoder.weight",
    "mask_generator.input_norm.weight",
    "mask_generator.input_conv.weight",
    "mask_generator.output_conv.weight",
)
_BLOCK = re.compile(r"mask_generator\.conv_layers\.(\d+)\.")


def is_torchaudio_state_dict(ckpt) -> bool:
    """True for a bare state dict with torchaudio ConvTasNet's module names."""
    return (
        isinstance(ckpt, dict)
        and "format" not in ckpt
        and "model_name" not in ckpt
        and all(isinstance(ckpt.get(k), torch.Tensor) for k in _MARKERS)
    )


def _shape(state: dict, key: str, dims: int, path) -> tuple:
    from separation_core.errors import CheckpointError

    value = state.get(key)
    if not isinstance(value, torch.Tensor) or value.dim() != dims:
        raise CheckpointError(
            f"{path}: torchaudio ConvTasNet: '{key}' is missing or not a {dims}-D tensor"
        )
    return tuple(value.shape)


def convert_args(state: dict, path) -> dict:
    """The port's arguments read from the weights' shapes; CheckpointError naming the file."""
    from separation_core.errors import CheckpointError

    n_feats, _, kernel = _shape(state, "encoder.weight", 3, path)
    bottleneck = _shape(state, "mask_generator.input_conv.weight", 3, path)[0]
    hidden = _shape(state, "mask_generator.conv_layers.0.conv_layers.0.weight", 3, path)[0]
    conv_kernel = _shape(state, "mask_generator.conv_layers.0.conv_layers.3.weight", 3, path)[2]
    rows = _shape(state, "mask_generator.output_conv.weight", 3, path)[0]
    blocks = 1 + max(int(m.group(1)) for k in state if (m := _BLOCK.match(k)))
    if rows % n_feats:
        raise CheckpointError(
            f"{path}: torchaudio ConvTasNet: output_conv has {rows} rows, not a multiple of the "
            f"encoder's {n_feats} filters"
        )
    if blocks % LAYERS_PER_STACK:
        raise CheckpointError(
            f"{path}: torchaudio ConvTasNet: {blocks} blocks, not stacks of "
            f"{LAYERS_PER_STACK} as in conv_tasnet_base (the file does not hold the stacking)"
        )
    return {
        "num_sources": rows // n_feats,
        "enc_kernel_size": kernel,
        "enc_num_feats": n_feats,
        "msk_kernel_size": conv_kernel,
        "msk_num_feats": bottleneck,
        "msk_num_hidden_feats": hidden,
        "msk_num_layers": LAYERS_PER_STACK,
        "msk_num_stacks": blocks // LAYERS_PER_STACK,
        "msk_activate": MASK_ACTIVATION,
        "sample_rate": SAMPLE_RATE,
    }


def to_cocktail(state: dict, path: Union[str, Path] = "<checkpoint>") -> dict:
    """A torchaudio ConvTasNet state dict -> a Cocktail checkpoint dict (format 1); the weights'
    names and shapes are checked afterwards, as every checkpoint's (``checks.check_architecture``)."""
    args = convert_args(state, path)
    return {
        "format": FORMAT_NAME,
        "format_version": 1,
        "model_name": PORT,
        "model_args": args,
        "state_dict": dict(state),
        "sample_rate": SAMPLE_RATE,
        "n_src": args["num_sources"],
        "stft": None,
        "training": {
            "description": "Imported from torchaudio ConvTasNet (conv_tasnet_base: 8 blocks a "
            "stack, ReLU masks, 8 kHz as the Libri2Mix pipeline), not trained by Cocktail."
        },
        "metrics": {},
        "imported": {
            "from": "torchaudio",
            "label": "torchaudio ConvTasNet",
            "model_name": "ConvTasNet",
            "source_format": SOURCE_FORMAT,
            "model_args": dict(args),
        },
    }
