"""Asteroid model files -> Cocktail checkpoints, in memory.

Asteroid's ``BaseModel.serialize()`` writes ``{model_name, model_args, state_dict, infos}`` (saved
as ``.pth``, ``.ckpt``, or a model hub's ``pytorch_model.bin``). These classes are imported onto
Cocktail's exact ports (``SUPPORTED``): ``ConvTasNet`` and ``DPRNNTasNet`` (``asteroid_port``),
``DPTNet`` (``asteroid_dptnet``), ``SuDORMRFNet`` and ``SuDORMRFImprovedNet``
(``asteroid_sudormrf``), all with the free filterbank, and the enhancers ``DCUNet`` and ``DCCRNet``
(``asteroid_dcunet``: speech, and mixture - speech as a second output). A file of the other
classes with one output (``n_src: 1``, Asteroid's enhancement recipes, e.g.
``JorisCos/DPTNet_Libri1Mix_enhsingle_16k``) is an enhancer too: speech and noise. The state dict
keeps its key names. Every option that changes the weights or the computation is either carried over or
refused with one line naming the option and the file. Asteroid itself is never imported.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Optional, Union

import torch

from separation_core.checkpoints.checks import trainable_parameters
from separation_core.checkpoints.importers.toolkit_card import imported_limits
from separation_core.models import asteroid_port as port
from separation_core.models.blocks import ACTIVATIONS

FORMAT_NAME = "cocktail-checkpoint"  # as checkpoints.FORMAT_NAME (not imported: no cycle)

# Asteroid's model classes (exact case, as ``serialize()`` writes ``type(model).__name__``).
SUPPORTED = {
    "ConvTasNet": "asteroid-convtasnet",
    "DPRNNTasNet": "asteroid-dprnn",
    "DPTNet": "asteroid-dptnet",
    "SuDORMRFNet": "asteroid-sudormrf",
    "SuDORMRFImprovedNet": "asteroid-sudormrf-improved",
    "DCUNet": "asteroid-dcunet",
    "DCCRNet": "asteroid-dccrnet",
}
ENHANCERS = ("DCUNet", "DCCRNet")  # one speech output; Cocktail adds the noise as a second
OTHER_ASTEROID_MODELS = (
    "LSTMTasNet",
    "DeMask",
    "FasNetTAC",
    "XUMX",
    "VADNet",
    "BaseModel",
)
SOURCE_FORMAT = "Asteroid serialize() file (model_name, model_args, state_dict, infos)"
FREE_FILTERBANKS = ("free", "FreeFB")
FILTERBANK_WORDS = {
    "stft": "the STFT filterbank",
    "STFTFB": "the STFT filterbank",
    "TorchSTFTFB": "the STFT filterbank",
    "analytic_free": "the analytic free filterbank",
    "AnalyticFreeFB": "the analytic free filterbank",
    "param_sinc": "the parametrised sinc filterbank",
    "ParamSincFB": "the parametrised sinc filterbank",
}

# The free filterbank's options and the masker's options that every family here shares.
_FILTERBANK = {
    "n_src": "int",
    "in_chan": "int?",
    "fb_name": "fb",
    "kernel_size": "int",
    "n_filters": "int",
    "stride": "int?",
    "encoder_activation": "act?",
    "sample_rate": "rate",
}
_TASNET = {
    **_FILTERBANK,
    "out_chan": "int?",
    "bn_chan": "int",
    "norm_type": "norm",
    "mask_act": "act",
    "n_repeats": "int",
}
OPTIONS = {
    "ConvTasNet": {
        **_TASNET,
        "n_blocks": "int",
        "hid_chan": "int",
        "skip_chan": "int?",
        "conv_kernel_size": "int",
        "causal": "bool",
    },
    "DPRNNTasNet": {
        **_TASNET,
        "hid_size": "int",
        "chunk_size": "int",
        "hop_size": "int?",
        "bidirectional": "bool",
        "rnn_type": "rnn",
        "num_layers": "int",
        "dropout": "float",
        "use_mulcat": "bool",
    },
    "DPTNet": {
        **_FILTERBANK,
        "norm_type": "norm",
        "mask_act": "act",
        "n_repeats": "int",
        "n_heads": "int",
        "ff_hid": "int",
        "chunk_size": "int",
        "hop_size": "int?",
        "ff_activation": "act",
        "bidirectional": "bool",
        "dropout": "float",
    },
    "SuDORMRFNet": {
        **_FILTERBANK,
        "bn_chan": "int",
        "num_blocks": "int",
        "upsampling_depth": "int",
        "mask_act": "act",
    },
}
OPTIONS["SuDORMRFImprovedNet"] = OPTIONS["SuDORMRFNet"]
_STFT = {
    "stft_n_filters": "int",
    "stft_kernel_size": "int",
    "stft_stride": "int",
    "sample_rate": "rate",
    "n_src": "int",
    "mask_bound": ("tanh", "BDT", "sigmoid", "BDSS", "UBD", None),
}
OPTIONS["DCUNet"] = {
    **_STFT,
    "architecture": ("DCUNet-10", "DCUNet-16", "DCUNet-20", "Large-DCUNet-20", "mini"),
    "fix_length_mode": (None, "pad", "trim"),
}
OPTIONS["DCCRNet"] = {**_STFT, "architecture": ("DCCRN-CL", "mini"), "n_freqs": "int"}
# Options the files record that Asteroid's constructors do not use: SuDORMRFNet's encoder is always
# ReLU with stride kernel_size // 2, SuDORMRFImprovedNet's encoder always linear.
_PADDED = ("SuDORMRFNet", "SuDORMRFImprovedNet")  # their _Padder saves the encoder's filters again
ALIAS = "encoder.filterbank._filters"
_UNUSED = {
    "SuDORMRFNet": ("encoder_activation", "stride"),
    "SuDORMRFImprovedNet": ("encoder_activation",),
}
# Filterbank options make_enc_dec takes but serialize() never records: refused unless neutral.
_NEUTRAL = {"padding": 0, "output_padding": 0, "who_is_pinv": None}


def is_asteroid_file(ckpt) -> bool:
    """True for a dict Asteroid's ``serialize()`` wrote (no Cocktail format marker, Asteroid's
    fields, and an Asteroid class name, an Asteroid filterbank argument or Asteroid's version)."""
    if not isinstance(ckpt, dict) or "format" in ckpt:
        return False
    if not all(k in ckpt for k in ("model_name", "model_args", "state_dict")):
        return False
    name, args, infos = ckpt["model_name"], ckpt["model_args"], ckpt.get("infos")
    if not isinstance(name, str) or not isinstance(args, dict):
        return False
    versions = infos.get("software_versions") if isinstance(infos, dict) else None
    return (
        name in SUPPORTED
        or name in OTHER_ASTEROID_MODELS
        or "fb_name" in args
        or (isinstance(versions, dict) and "asteroid_version" in versions)
    )


class ImportRefused(ValueError):
    """One line: what in the file cannot be imported (the caller adds the file name)."""


def _check_value(name: str, kind: str, value):
    """The option's value, normalised; ImportRefused naming the option otherwise."""
    if isinstance(kind, tuple):
        if value not in kind:
            raise ImportRefused(
                f"option {name}={value!r} is not supported (known: {', '.join(map(str, kind))})"
            )
        return value
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None and optional:
        return None
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if optional else 1):
            raise ImportRefused(f"option {name}={value!r} is not a positive whole number")
        return value
    if kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ImportRefused(f"option {name}={value!r} is not a ratio between 0 and 1")
        return float(value)
    if kind == "bool":
        if not isinstance(value, (bool, int)):
            raise ImportRefused(f"option {name}={value!r} is not true or false")
        return bool(value)
    if kind == "rate":
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value <= 0
            or not float(value).is_integer()
        ):
            raise ImportRefused(
                f"option sample_rate={value!r} is not a whole number of Hz"
                + (" (the file does not say its sample rate)" if value is None else "")
            )
        return int(value)
    if kind == "fb":
        if value not in FREE_FILTERBANKS:
            what = FILTERBANK_WORDS.get(value, "this filterbank")
            raise ImportRefused(
                f"option fb_name={value!r} ({what}) is not supported: Cocktail "
                "imports the free filterbank ('free' / 'FreeFB') only"
            )
        return "free"
    if kind == "norm":
        if value not in port.NORMS:
            raise ImportRefused(
                f"option norm_type={value!r} is not supported (known: {', '.join(port.NORMS)})"
            )
        return value
    if kind == "act":
        if value not in ACTIVATIONS:
            raise ImportRefused(
                f"option {name}={value!r} is not supported (known: {', '.join(ACTIVATIONS)})"
            )
        return value
    if kind == "rnn":
        if not isinstance(value, str) or value.upper() not in ("RNN", "LSTM", "GRU"):
            raise ImportRefused(
                f"option rnn_type={value!r} is not supported (known: RNN, LSTM, GRU)"
            )
        return value.upper()
    raise AssertionError(kind)


def convert_args(model_name: str, args: dict) -> dict:
    """Asteroid ``model_args`` -> the port's keyword arguments; ImportRefused naming the first
    option that is unknown, unsupported or out of range."""
    if model_name not in SUPPORTED:
        known = " and ".join(SUPPORTED)
        what = "an Asteroid model" if model_name in OTHER_ASTEROID_MODELS else "a model"
        raise ImportRefused(
            f"{what} of class {model_name!r}, which Cocktail cannot import (it imports {known})"
        )
    spec = OPTIONS[model_name]
    out = {}
    for key, value in args.items():
        if key in _NEUTRAL:
            if value != _NEUTRAL[key]:
                raise ImportRefused(
                    f"option {key}={value!r} is not supported (only {_NEUTRAL[key]!r})"
                )
            continue
        if key not in spec:
            raise ImportRefused(
                f"option {key}={value!r} is not one Cocktail knows for Asteroid's {model_name}"
            )
        out[key] = _check_value(key, spec[key], value)
    if "sample_rate" not in out:
        raise ImportRefused("option sample_rate is missing (the file does not say its sample rate)")
    out.pop("fb_name", None)
    if model_name == "SuDORMRFNet" and out.get("stride") not in (
        None,
        out.get("kernel_size", 21) // 2,
    ):
        raise ImportRefused(
            f"option stride={out['stride']} is not kernel_size // 2, the stride Asteroid's "
            "SuDORMRFNet always uses"
        )
    for key in _UNUSED.get(model_name, ()):
        out.pop(key, None)
    if model_name == "DPRNNTasNet" and port.NORMS.get(out.get("norm_type", "gLN")) is port.CumLN:
        raise ImportRefused(
            f"option norm_type={out['norm_type']!r} is not supported for "
            "DPRNNTasNet (cumulative norm on 4-D chunks: Asteroid cannot run it either)"
        )
    if model_name in ENHANCERS:
        if out.get("n_src", 1) != 1:
            raise ImportRefused(
                f"option n_src={out['n_src']} is not supported (Cocktail imports the one-output, "
                f"enhancement {model_name})"
            )
        return out
    n_filters = out.get("n_filters", _port_default(model_name, "n_filters"))
    for key in ("out_chan", "in_chan"):
        if out.get(key) and out[key] != n_filters:
            raise ImportRefused(
                f"option {key}={out[key]} differs from n_filters={n_filters} (masks "
                "that do not fit the encoder output)"
            )
    return out


def _port(model_name: str):
    """The class of Cocktail's port of Asteroid's ``model_name``."""
    from separation_core.models.registry import get_model_class

    return get_model_class(SUPPORTED[model_name])


def _port_default(model_name: str, arg: str):
    """The default of ``arg`` in the port's constructor (Asteroid's default)."""
    return inspect.signature(_port(model_name).__init__).parameters[arg].default


def safe_globals() -> list:
    """Harmless classes that Asteroid's files hold besides tensors, allowed to ``torch.load``'s
    ``weights_only`` unpickler: ``torch.__version__`` (a str subclass, in every ``infos``) and numpy
    scalars and their dtypes (the recipes' ``final_metrics``). Nothing that can run code."""
    import numpy as np
    from torch.torch_version import TorchVersion

    core = getattr(np, "_core", None) or np.core
    allowed = [
        TorchVersion,
        np.dtype,
        core.multiarray.scalar,
        (core.multiarray.scalar, "numpy.core.multiarray.scalar"),
    ]
    for name in (
        "Float64DType",
        "Float32DType",
        "Float16DType",
        "Int64DType",
        "Int32DType",
        "BoolDType",
    ):
        cls = getattr(getattr(np, "dtypes", None), name, None)
        if cls is not None:
            allowed.append(cls)
    return allowed


def plain(value, depth: int = 0):
    """``value`` as plain Python data (numbers, text, lists, dicts); numpy scalars become numbers,
    str subclasses str, tensors are dropped, anything else becomes its text."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if (
        hasattr(value, "item")
        and not isinstance(value, torch.Tensor)
        and getattr(value, "ndim", 1) == 0
    ):
        return plain(value.item(), depth + 1)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return float(value) if isinstance(value, float) else int(value)
    if isinstance(value, str):
        return str(value)
    if depth > 8:
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {
            str(k): plain(v, depth + 1) for k, v in value.items() if not isinstance(v, torch.Tensor)
        }
    return str(value)


def asteroid_version(ckpt: dict) -> Optional[str]:
    infos = ckpt.get("infos")
    versions = infos.get("software_versions") if isinstance(infos, dict) else None
    return (
        str(versions.get("asteroid_version"))
        if isinstance(versions, dict) and versions.get("asteroid_version")
        else None
    )


def to_cocktail(ckpt: dict, path: Union[str, Path] = "<checkpoint>") -> dict:
    """An Asteroid dict -> a Cocktail checkpoint dict (format 1) for the matching port; the
    original name, arguments and infos are kept under ``imported``. Raises CheckpointError."""
    from separation_core.errors import CheckpointError

    name = ckpt["model_name"]
    try:
        args = convert_args(name, ckpt["model_args"])
    except ImportRefused as err:
        raise CheckpointError(f"{path}: Asteroid {name}: {err}") from None
    state = ckpt["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: Asteroid {name}: state_dict is not a dict of tensors")
    state = dict(state)
    if name in _PADDED and ALIAS in state and "encoder." + ALIAS in state:  # saved twice
        alias, own = state.pop(ALIAS), state["encoder." + ALIAS]
        if not (
            isinstance(alias, torch.Tensor)
            and isinstance(own, torch.Tensor)
            and alias.shape == own.shape
            and torch.equal(alias, own)
        ):
            raise CheckpointError(
                f"{path}: Asteroid {name}: '{ALIAS}' is not a copy of 'encoder.{ALIAS}'"
            )
    version = asteroid_version(ckpt)
    origin = f"Asteroid {name}" + (f" (asteroid {version})" if version else "")
    return {
        "format": FORMAT_NAME,
        "format_version": 1,
        "model_name": SUPPORTED[name],
        "model_args": args,
        "state_dict": state,
        "sample_rate": args["sample_rate"],
        "n_src": args.get("n_src", 2) if _port(name).voices_with(args) else 2,  # speech, noise
        "stft": None,
        "training": {
            "description": f"Imported from {origin}, with the arguments the file gives "
            "(not trained by Cocktail)."
        },
        "metrics": {},
        "imported": {
            "from": "asteroid",
            "model_name": name,
            "source_format": SOURCE_FORMAT,
            "asteroid_version": version,
            "model_args": plain(ckpt["model_args"]),
            "infos": plain(ckpt.get("infos") or {}),
        },
    }


def imported_card(ckpt: dict, path: Union[str, Path]) -> str:
    """A Markdown model card for an imported checkpoint: what the file says of itself."""
    path = Path(path)
    imp = ckpt.get("imported") or {}
    n_params = trainable_parameters(ckpt, path)
    outputs = (
        f"{ckpt['n_src']} voices"
        if _port(imp.get("model_name")).voices_with(ckpt["model_args"])
        else "speech and noise (mixture - speech)"
    )
    size = path.stat().st_size / 2**20 if path.is_file() else float("nan")
    lines = [
        f"# {path.stem}",
        "",
        f"**Imported** from {imp.get('from', '?').capitalize()} `{imp.get('model_name')}`"
        + (f" (asteroid {imp['asteroid_version']})" if imp.get("asteroid_version") else "")
        + ": not trained or measured by Cocktail. Everything below is what the file says of itself.",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | Asteroid `{imp.get('model_name')}`, run on Cocktail's port "
        f"`{ckpt['model_name']}` |",
        f"| arguments (as in the file) | `{json.dumps(imp.get('model_args'), sort_keys=True)}` |",
        f"| parameters | {n_params:,} |",
        f"| sample rate, outputs | {ckpt['sample_rate']} Hz, {outputs} |",
        f"| file | `{path.name}`, {size:.1f} MiB |",
        "",
        "## Infos carried by the file",
        "",
        "```json",
        json.dumps(imp.get("infos") or {}, indent=2, sort_keys=True, default=str),
        "```",
        "",
    ]
    return "\n".join(lines + imported_limits(path))
