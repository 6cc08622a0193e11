"""What a checkpoint file must pass before and after ``torch.load``, each failure a one-line
CheckpointError naming the file and the problem.

Before loading: a regular, readable, non-empty file; a zip archive (what ``torch.save`` writes) or a
legacy torch pickle, never anything else; a zip whose entries declare a sane uncompressed size
(torch stores tensors uncompressed, so a deflated "zip bomb" is refused from its central directory
before a byte of it is inflated). After loading: every field's type and range, and the weights'
names and shapes against the architecture the model arguments declare (built on the meta device,
so no memory is spent on it).
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import torch

from separation_core.errors import CheckpointError, ModelError
from separation_core.io.fileutil import unreadable_reason
from separation_core.models.registry import get_model_class

MAX_DECLARED_BYTES = 2 << 30  # uncompressed bytes a checkpoint's zip entries may declare
MAX_RATIO = 20  # declared bytes per byte of file, once above RATIO_FLOOR
RATIO_FLOOR = 64 << 20
MAX_SAMPLE_RATE = 768_000
MAX_SOURCES = 64
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # pickle protocol 2 or later: torch's legacy (non-zip) format
_STFT_FIELDS = ("n_fft", "hop", "win_length", "sample_rate")
_PLAIN = (int, float, str, bool, type(None))

PathLike = Union[str, Path]


def _fail(path: PathLike, problem: str) -> CheckpointError:
    return CheckpointError(" ".join(f"{path}: {problem}".split()))


def _human(n: int) -> str:
    """Bytes in words: '3.9 MB', '4.0 GB'."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _show(value) -> str:
    """A short description of a bad value for a message: its repr, cut, and its type."""
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    kind = type(value).__name__
    return f"{text} ({'an' if kind[0] in 'aeiou' else 'a'} {kind})"


# -- before torch.load --------------------------------------------------------------------------


def check_file(path: Path) -> None:
    """A regular, readable, non-empty file (no folder, device, pipe or /proc, /sys file)."""
    problem = unreadable_reason(path, "a checkpoint file")
    if problem == "file not found":
        problem = "no such checkpoint file"
    if problem:
        raise _fail(path, problem)
    if path.stat().st_size == 0:
        raise _fail(path, "empty file (0 bytes)")


def check_container(path: Path) -> None:
    """A zip archive of sane declared size or a legacy torch pickle; anything else is refused."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_ZIP_MAGIC))
    except OSError as err:
        raise _fail(path, f"cannot be read ({err.strerror or err})") from None
    if head.startswith(_ZIP_MAGIC):
        check_zip_sizes(path)
    elif not head.startswith(_PICKLE_MAGIC):
        raise _fail(path, "not a PyTorch checkpoint (neither a zip archive nor a pickle file)")


def check_zip_sizes(path: Path) -> None:
    """Refuse a zip whose central directory declares more than MAX_DECLARED_BYTES uncompressed, or
    more than MAX_RATIO times the file's size (above RATIO_FLOOR): nothing is inflated to find out."""
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        detail = " ".join(str(err).split()) or type(err).__name__
        raise _fail(
            path, f"corrupt or truncated checkpoint (damaged zip archive: {detail})"
        ) from None
    size = path.stat().st_size
    if declared > MAX_DECLARED_BYTES:
        raise _fail(
            path,
            f"refused: its zip entries declare {_human(declared)} of data "
            f"uncompressed, above the {_human(MAX_DECLARED_BYTES)} limit "
            f"(file size {_human(size)})",
        )
    if declared > RATIO_FLOOR and declared > MAX_RATIO * size:
        raise _fail(
            path,
            f"refused: {_human(declared)} of data compressed into a {_human(size)} "
            f"file (more than {MAX_RATIO}:1; torch stores tensors uncompressed, so "
            "this is a decompression bomb)",
        )


def unpickling_reason(err: Exception) -> str:
    """The cause of torch's weights-only UnpicklingError in a few words (its own text is a page)."""
    text = " ".join(str(err).split())
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found or "Unsupported global" in text:
        what = f" ({found.group(1)})" if found else ""
        return f"refused: it holds code or objects other than plain data and tensors{what} (unsafe pickle)"
    detail = (
        text.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation")[0].strip()
    )
    return "not a PyTorch checkpoint (a pickle that torch.save did not write" + (
        f": {detail[:80]})" if detail and len(detail) < len(text) else ")"
    )


def load_vetted(path: Path, allowed_globals: Sequence = ()):
    """``torch.load(path, weights_only=True)`` of a file that passed ``check_file`` and
    ``check_container``, with ``allowed_globals`` also allowed; any failure a one-line
    CheckpointError naming the file."""
    check_file(path)
    check_container(path)
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path}: {unpickling_reason(err)}") from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as err:
        msg = " ".join(str(err).split()) or type(err).__name__
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({msg[:160]})") from None
    except Exception as err:  # any other loader failure is still a bad file, never a crash
        raise CheckpointError(
            f"{path}: cannot be read as a checkpoint ({type(err).__name__})"
        ) from None


# -- after torch.load ---------------------------------------------------------------------------


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_int(path: PathLike, field: str, value, limit: int) -> int:
    if not _whole(value) or not 0 < value <= limit:
        raise _fail(
            path, f"field '{field}' must be a whole number from 1 to {limit}, not {_show(value)}"
        )
    return value


def _dict_field(path: PathLike, ckpt: dict, field: str, optional: bool = True) -> dict:
    value = ckpt.get(field)
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, f"field '{field}' must be a dict, not {_show(value)}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise _fail(path, f"field '{field}' has a key that is not a string: {_show(bad[0])}")
    return value


def check_fields(ckpt: dict, path: PathLike) -> None:
    """Every field's type and range; CheckpointError naming the first bad one."""
    name = ckpt["model_name"]
    if not isinstance(name, str) or not name:
        raise _fail(path, f"field 'model_name' must be a model name, not {_show(name)}")
    try:
        get_model_class(name)
    except ModelError as err:
        raise _fail(path, str(err)) from None
    rate = _positive_int(path, "sample_rate", ckpt["sample_rate"], MAX_SAMPLE_RATE)
    n_src = _positive_int(path, "n_src", ckpt["n_src"], MAX_SOURCES)
    args = _dict_field(path, ckpt, "model_args", optional=False)
    for key, top, limit in (("sample_rate", rate, MAX_SAMPLE_RATE), ("n_src", n_src, MAX_SOURCES)):
        if key not in args:
            continue
        declared = _positive_int(path, f"model_args.{key}", args[key], limit)
        if key == "n_src" and not get_model_class(name).voices_with(args):
            if top != 2:  # an enhancer's outputs, whatever its model_args count (masks)
                raise _fail(path, f"field 'n_src' is {top} but the model outputs speech and noise")
            continue
        if declared != top:
            raise _fail(path, f"field 'model_args.{key}' is {args[key]} but '{key}' is {top}")
    _check_state_dict(path, _dict_field(path, ckpt, "state_dict", optional=False))
    _check_stft(path, ckpt.get("stft"), rate)
    _check_training(path, _dict_field(path, ckpt, "training"))
    _check_plain_values(path, "metrics", _dict_field(path, ckpt, "metrics"))
    _dict_field(path, ckpt, "trainer")
    for field in ("created", "cocktail_version"):
        if field in ckpt and not isinstance(ckpt[field], str):
            raise _fail(path, f"field '{field}' must be text, not {_show(ckpt[field])}")


def _check_state_dict(path: PathLike, state: dict) -> None:
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise _fail(path, f"field 'state_dict.{key}' must be a tensor, not {_show(value)}")


def _check_stft(path: PathLike, stft, rate: int) -> None:
    if stft is None:
        return
    if not isinstance(stft, dict):
        raise _fail(path, f"field 'stft' must be a dict or None, not {_show(stft)}")
    for key in _STFT_FIELDS:
        limit = MAX_SAMPLE_RATE if key == "sample_rate" else 1 << 20
        _positive_int(path, f"stft.{key}", stft.get(key), limit)
    if stft["sample_rate"] != rate:
        raise _fail(
            path, f"field 'stft.sample_rate' is {stft['sample_rate']} but 'sample_rate' is {rate}"
        )


def _check_training(path: PathLike, training: dict) -> None:
    steps = training.get("steps", 0)
    if not _number(steps) or not steps >= 0:
        raise _fail(path, f"field 'training.steps' must be a number of steps, not {_show(steps)}")
    description = training.get("description", "")
    if not isinstance(description, (str, type(None))):
        raise _fail(path, f"field 'training.description' must be text, not {_show(description)}")


def _plain(value, depth: int = 0) -> bool:
    """Plain data that JSON can hold: numbers, text, booleans, None, and lists or dicts of them."""
    if isinstance(value, _PLAIN):
        return True
    if depth > 8:
        return False
    if isinstance(value, (list, tuple)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _check_plain_values(path: PathLike, field: str, values: dict) -> None:
    for key, value in values.items():
        if not _plain(value):
            raise _fail(
                path,
                f"field '{field}.{key}' must be plain data (numbers, text), not {_show(value)}",
            )


def check_architecture(ckpt: dict, path: PathLike) -> None:
    """The weights' names and shapes are those of the model its ``model_args`` declare."""
    cls = get_model_class(ckpt["model_name"])
    expected = _declared_shapes(cls, ckpt["model_args"], path)
    misfit = weights_misfit(ckpt["state_dict"], expected, "the model needs")
    if misfit:
        raise _fail(
            path,
            f"weights do not fit the '{cls.name}' architecture its model_args declare: {misfit}",
        )


def weights_misfit(state: dict, expected: dict, needs: str) -> str:
    """How the state dict's names and shapes differ from ``expected`` (``{name: shape}``), in a few
    words (``needs`` introduces the expected shape: "the model needs"); "" when they fit."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [
            f"{len(missing)} missing (first '{missing[0]}')" if missing else "",
            f"{len(unexpected)} unexpected (first '{unexpected[0]}')" if unexpected else "",
        ]
        return ", ".join(p for p in parts if p)
    wrong = [k for k in expected if tuple(state[k].shape) != expected[k]]
    if wrong:
        k = wrong[0]
        return (
            f"'{k}' is {list(state[k].shape)}, {needs} {list(expected[k])} "
            f"({len(wrong)} tensor(s) differ)"
        )
    return ""


def _declared_shapes(cls, args: dict, path: PathLike) -> dict:
    """``{name: shape}`` of the state dict of ``cls(**args)``."""
    return {k: tuple(v.shape) for k, v in declared_model(cls, args, path).state_dict().items()}


def declared_model(cls, args: dict, path: PathLike):
    """``cls(**args)`` built on the meta device (no memory), on the CPU only when a model cannot
    be built there: its shapes and parameter count, never its values. CheckpointError naming
    ``path`` when the arguments do not fit."""
    try:
        with torch.device("meta"):
            return cls(**args)
    except Exception:
        try:
            return cls(**args)
        except Exception as err:
            detail = " ".join(str(err).split())[:120] or type(err).__name__
            raise _fail(path, f"model_args do not fit '{cls.name}' ({detail})") from None


def trainable_parameters(ckpt: dict, path: PathLike) -> int:
    """The parameters of a validated checkpoint's model (its ``nn.Module`` parameters, each shared
    tensor once): not its buffers (fixed STFT filters, batch-norm statistics, position tables)."""
    cls = get_model_class(ckpt["model_name"])
    return declared_model(cls, ckpt["model_args"], path).num_parameters()
