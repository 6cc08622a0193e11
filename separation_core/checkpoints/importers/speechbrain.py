"""SpeechBrain pretrained folders -> Cocktail checkpoints, in memory.

A separator as SpeechBrain publishes it (``speechbrain/sepformer-wsj02mix`` and the like) is a folder
with ``hyperparams.yaml`` and one state dict per module: ``encoder.ckpt``, ``masknet.ckpt``,
``decoder.ckpt``. SepFormer (``Dual_Path_Model`` with ``SBTransformerBlock``) and RE-SepFormer
(``ResourceEfficientSeparator`` with ``SBTransformerBlock_wnormandskip``) are imported onto
Cocktail's ports (``models/sepformer.py``, ``models/resepformer.py``); an enhancement SepFormer
(``num_spks: 1``) onto ``speechbrain-sepformer-enhancement`` (speech, then the rest).

``hyperparams.yaml`` is untrusted: SpeechBrain's loader (hyperpyyaml) constructs any Python object a
tag names (``!new:``, ``!name:``, ``!apply:`` calls). Here it is read as plain YAML (PyYAML's safe
loader): a tag is only recorded, never constructed; every tag in the file must be ``!ref`` or
``!new:`` of a class listed in ``KNOWN_CLASSES``, and only the numbers the port needs are taken.
The ``.ckpt`` files are vetted and loaded as ``Cocktail .pt`` files are (``weights_only=True``).
SpeechBrain itself is never imported.
"""

from __future__ import annotations

import ast
import hashlib
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from separation_core.checkpoints import checks
from separation_core.errors import CheckpointError
from separation_core.models.registry import get_model_class
from separation_core.models.speechbrain_blocks import sinusoids

FORMAT_NAME = "cocktail-checkpoint"  # as checkpoints.FORMAT_NAME (not imported: no cycle)
HYPERPARAMS = "hyperparams.yaml"
MODULES = ("encoder", "masknet", "decoder")
SOURCE_FORMAT = "SpeechBrain pretrained folder (hyperparams.yaml, encoder/masknet/decoder.ckpt)"
MAX_YAML_BYTES = 1 << 20  # published hyperparams are a few kB

_DP = "speechbrain.lobes.models.dual_path."
_RE = "speechbrain.lobes.models.resepformer."
PRETRAINER = "speechbrain.utils.parameter_transfer.Pretrainer"  # lists the files; never built
# ``SBTransformerBlock``'s arguments and defaults; ``SBTransformerBlock_wnormandskip`` adds four.
_TRANSFORMER_BLOCK: dict[str, Any] = {
    "num_layers": None,
    "d_model": None,
    "nhead": None,
    "d_ffn": 2048,
    "input_shape": None,
    "kdim": None,
    "vdim": None,
    "dropout": 0.1,
    "activation": "relu",
    "use_positional_encoding": False,
    "norm_before": False,
    "attention_type": "regularMHA",
}
# The classes a `!new:` tag may name, with the arguments each takes and SpeechBrain's defaults
# (``None``: no default). Arguments that only matter in training (dropout) are read and ignored.
KNOWN_CLASSES: dict[str, dict[str, Any]] = {
    _DP + "Encoder": {"kernel_size": 2, "out_channels": 64, "in_channels": 1},
    _DP + "Decoder": {
        "in_channels": None,
        "out_channels": None,
        "kernel_size": None,
        "stride": 1,
        "padding": 0,
        "output_padding": 0,
        "groups": 1,
        "bias": True,
        "dilation": 1,
    },
    _DP + "Dual_Path_Model": {
        "in_channels": None,
        "out_channels": None,
        "intra_model": None,
        "inter_model": None,
        "num_layers": 1,
        "norm": "ln",
        "K": 200,
        "num_spks": 2,
        "skip_around_intra": True,
        "linear_layer_after_inter_intra": True,
        "use_global_pos_enc": False,
        "max_length": 20000,
    },
    _DP + "SBTransformerBlock": _TRANSFORMER_BLOCK,
    _RE + "ResourceEfficientSeparator": {
        "input_dim": None,
        "causal": True,
        "num_spk": 2,
        "nonlinear": "relu",
        "layer": 3,
        "unit": 512,
        "segment_size": 20,
        "dropout": 0.0,
        "mem_type": "hc",
        "seg_model": None,
        "mem_model": None,
    },
    _RE + "SBTransformerBlock_wnormandskip": {
        **_TRANSFORMER_BLOCK,
        "causal": False,
        "use_norm": True,
        "use_skip": True,
        "norm_type": "gln",
    },
    PRETRAINER: {},
}
# SpeechBrain's own classes that Cocktail does not run, named in the refusal.
OTHER_SPEECHBRAIN = {
    _DP + "SBRNNBlock": "SpeechBrain's DPRNN",
    _DP + "SBConformerEncoderBlock": "SpeechBrain's Conformer SepFormer",
    _DP + "DPTNetBlock": "SpeechBrain's DPTNet",
    _DP + "SepformerWrapper": "SpeechBrain's SepformerWrapper",
    "speechbrain.lobes.models.conv_tasnet.MaskNet": "SpeechBrain's Conv-TasNet",
    _RE + "SegLSTM": "SpeechBrain's SkiM",
    _RE + "MemLSTM": "SpeechBrain's SkiM",
}


class Refused(ValueError):
    """One line: what in the folder cannot be imported (the caller adds the file name)."""


@dataclass(frozen=True)
class Tagged:
    """A YAML node with a hyperpyyaml tag, recorded and never constructed: ``kind`` is "ref" or
    "new", ``target`` the class (for "new"), ``value`` the node's plain content."""

    kind: str
    target: str
    value: Any
    line: int


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that records hyperpyyaml's tags (refusing unknown ones)."""


def _tagged(loader: _Loader, suffix: str, node: yaml.Node) -> Tagged:
    line = node.start_mark.line + 1
    kind, _, target = suffix.partition(":")
    tag = "!" + suffix
    if kind == "ref" and not target:
        if not isinstance(node, yaml.ScalarNode):
            raise Refused(f"line {line}: tag !ref must hold a reference like <name>")
        return Tagged("ref", "", loader.construct_scalar(node), line)
    if kind in ("apply", "name"):
        what = "calls" if kind == "apply" else "hands out"
        raise Refused(
            f"line {line}: tag {tag} {what} {target or 'a Python object'} when SpeechBrain reads "
            "the file; refused (nothing is run)"
        )
    if kind != "new":
        raise Refused(
            f"line {line}: unknown tag {tag} (Cocktail reads !ref and !new: only); refused "
            "(nothing is run)"
        )
    if target not in KNOWN_CLASSES:
        other = OTHER_SPEECHBRAIN.get(target)
        reason = (
            f"{other}, which Cocktail does not run" if other else "a class Cocktail does not know"
        )
        raise Refused(f"line {line}: !new:{target} is {reason}; refused (nothing is built)")
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.ScalarNode) and node.value == "":
        value = {}
    else:
        raise Refused(f"line {line}: !new:{target} must hold its arguments by name")
    return Tagged("new", target, value, line)


_Loader.add_multi_constructor("!", _tagged)


def read_hyperparams(path: Path) -> dict:
    """``hyperparams.yaml`` as a dict of plain values and ``Tagged`` nodes; Refused otherwise."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise Refused(f"cannot be read ({err.strerror or err})") from None
    if size > MAX_YAML_BYTES:
        raise Refused(f"{size} bytes, more than hyperparams ever hold ({MAX_YAML_BYTES})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise Refused(f"cannot be read as UTF-8 text ({type(err).__name__})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader, tags recorded only
    except yaml.constructor.ConstructorError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else "?"
        tag = re.search(r"tag '([^']*)'", str(err.problem))
        raise Refused(
            f"line {line}: unknown tag {tag.group(1) if tag else '?'} (Cocktail reads !ref and "
            "!new: only); refused (nothing is run)"
        ) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise Refused(f"{where}not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise Refused("not a mapping of hyperparameters")
    return data


# -- references and values -------------------------------------------------------------------------

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_REF = re.compile(r"<([A-Za-z_][\w.]*)>")


def _arith(node: ast.AST):
    """A number from an expression of numbers and + - * / // % (nothing else is evaluated)."""
    if isinstance(node, ast.Expression):
        return _arith(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_arith(node.left), _arith(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_arith(node.operand))
    raise ValueError("not arithmetic")


class Hyperparams:
    """Resolves ``!ref`` nodes against the file's top-level keys, lazily (only what is read)."""

    def __init__(self, data: dict) -> None:
        self.data = data

    def resolve(self, value, depth: int = 0):
        if depth > 32:
            raise Refused("references nest too deep (a reference loop?)")
        if not (isinstance(value, Tagged) and value.kind == "ref"):
            return value
        text = str(value.value).strip()
        whole = _REF.fullmatch(text)
        if whole:
            return self.resolve(self.lookup(whole.group(1), value.line), depth + 1)
        numbers = {}
        for name in _REF.findall(text):
            item = self.resolve(self.lookup(name, value.line), depth + 1)
            if type(item) not in (int, float):
                raise Refused(
                    f"line {value.line}: !ref {text!r} combines <{name}>, which is not a number"
                )
            numbers[name] = item
        expression = _REF.sub(lambda m: repr(numbers[m.group(1)]), text)
        try:
            return _arith(ast.parse(expression, mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError, TypeError):
            raise Refused(
                f"line {value.line}: !ref {text!r} is not a reference or arithmetic on numbers"
            ) from None

    def lookup(self, name: str, line: int):
        if name not in self.data:
            raise Refused(f"line {line}: !ref <{name}> names no key of the file")
        return self.data[name]

    def new(self, value, what: str, classes: tuple[str, ...]) -> Tagged:
        """``value`` resolved to a ``!new:`` node of one of ``classes``; Refused otherwise."""
        node = self.resolve(value)
        if not isinstance(node, Tagged) or node.target not in classes:
            found = node.target if isinstance(node, Tagged) else type(node).__name__
            names = " or ".join(c.rsplit(".", 1)[-1] for c in classes)
            raise Refused(f"{what} is {found}, not {names}")
        return node

    def arguments(self, node: Tagged) -> dict:
        """The node's arguments resolved, SpeechBrain's defaults filled in; Refused naming an
        argument the class does not take or one without a default that is missing."""
        spec = KNOWN_CLASSES[node.target]
        short = node.target.rsplit(".", 1)[-1]
        if not isinstance(node.value, dict):
            raise Refused(f"line {node.line}: {short} must hold its arguments by name")
        unknown = [k for k in node.value if k not in spec]
        if unknown:
            raise Refused(f"line {node.line}: {short} takes no argument {unknown[0]!r}")
        out = {}
        for key, default in spec.items():
            if key in node.value:
                out[key] = self.resolve(node.value[key])
            elif default is None and key not in _OPTIONAL_NONE:
                raise Refused(f"line {node.line}: {short} is missing its argument {key!r}")
            else:
                out[key] = default
        return out


_OPTIONAL_NONE = ("input_shape", "kdim", "vdim")


def _whole(args: dict, key: str, where: str, low: int = 1) -> int:
    value = args[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise Refused(f"{where}: {key}={value!r} is not a whole number of at least {low}")
    return value


def _flag(args: dict, key: str, where: str) -> bool:
    if not isinstance(args[key], bool):
        raise Refused(f"{where}: {key}={args[key]!r} is not true or false")
    return args[key]


def _choice(args: dict, key: str, where: str, allowed: tuple) -> Any:
    if args[key] not in allowed:
        known = ", ".join(repr(a) for a in allowed)
        raise Refused(f"{where}: {key}={args[key]!r} is not supported (known: {known})")
    return args[key]


def _transformer(hp: Hyperparams, value, what: str, cls: str) -> dict:
    """A transformer block's arguments as the ports take them."""
    node = hp.new(value, what, (cls,))
    args = hp.arguments(node)
    where = f"line {node.line}: {what}"
    for key in ("input_shape", "kdim", "vdim"):
        if args[key] is not None:
            raise Refused(f"{where}: {key}={args[key]!r} is not supported (only null)")
    _choice(args, "attention_type", where, ("regularMHA",))
    out = {
        "layers": _whole(args, "num_layers", where),
        "d_model": _whole(args, "d_model", where),
        "nhead": _whole(args, "nhead", where),
        "d_ffn": _whole(args, "d_ffn", where),
        "activation": _choice(args, "activation", where, ("relu", "gelu")),
        "use_positional_encoding": _flag(args, "use_positional_encoding", where),
        "norm_before": _flag(args, "norm_before", where),
    }
    if out["d_model"] % out["nhead"] or out["d_model"] % 2:
        raise Refused(f"{where}: d_model={out['d_model']} is odd or not a multiple of nhead")
    if cls.endswith("_wnormandskip"):
        out.update(
            causal=_flag(args, "causal", where),
            use_norm=_flag(args, "use_norm", where),
            use_skip=_flag(args, "use_skip", where),
            norm_type=_choice(args, "norm_type", where, ("gln", "cln", "ln")),
        )
    return out


def _same_blocks(a: dict, b: dict, names: str) -> dict:
    """The shared arguments of two transformer blocks (their layer counts may differ)."""
    differ = [k for k in a if k != "layers" and a[k] != b[k]]
    if differ:
        raise Refused(f"{names} differ in {differ[0]} ({a[differ[0]]} and {b[differ[0]]})")
    return {k: v for k, v in a.items() if k not in ("layers", "d_model")}


def _codec(hp: Hyperparams, modules: dict) -> dict:
    """The encoder's and decoder's arguments (as the ports take them)."""
    enc_node = hp.new(modules["encoder"], "modules: encoder", (_DP + "Encoder",))
    enc = hp.arguments(enc_node)
    where = f"line {enc_node.line}: Encoder"
    if _whole(enc, "in_channels", where) != 1:
        raise Refused(f"{where}: in_channels={enc['in_channels']} (Cocktail runs mono encoders)")
    kernel, channels = _whole(enc, "kernel_size", where, 2), _whole(enc, "out_channels", where)
    dec_node = hp.new(modules["decoder"], "modules: decoder", (_DP + "Decoder",))
    dec = hp.arguments(dec_node)
    where = f"line {dec_node.line}: Decoder"
    for key, expected in (("in_channels", channels), ("out_channels", 1), ("kernel_size", kernel)):
        if _whole(dec, key, where) != expected:
            raise Refused(f"{where}: {key}={dec[key]} does not fit the encoder (needs {expected})")
    for key, neutral in (("padding", 0), ("output_padding", 0), ("groups", 1), ("dilation", 1)):
        if dec[key] != neutral:
            raise Refused(f"{where}: {key}={dec[key]!r} is not supported (only {neutral})")
    return {
        "kernel_size": kernel,
        "channels": channels,
        "decoder_stride": _whole(dec, "stride", where),
        "decoder_bias": _flag(dec, "bias", where),
    }


def _sepformer_args(hp: Hyperparams, node: Tagged, codec: dict) -> dict:
    args = hp.arguments(node)
    where = f"line {node.line}: Dual_Path_Model"
    if _flag(args, "use_global_pos_enc", where):
        raise Refused(f"{where}: use_global_pos_enc=true is not supported")
    if _whole(args, "in_channels", where) != codec["channels"]:
        raise Refused(f"{where}: in_channels={args['in_channels']} differs from the encoder's")
    out_channels = _whole(args, "out_channels", where)
    cls = _DP + "SBTransformerBlock"
    intra = _transformer(hp, args["intra_model"], "Dual_Path_Model intra_model", cls)
    inter = _transformer(hp, args["inter_model"], "Dual_Path_Model inter_model", cls)
    if intra["d_model"] != out_channels:
        raise Refused(
            f"{where}: out_channels={out_channels} differs from d_model={intra['d_model']}"
        )
    shared = _same_blocks(intra, inter, "the intra and inter models")
    return {
        "num_spks": _whole(args, "num_spks", where),
        **codec,
        "out_channels": out_channels,
        "num_layers": _whole(args, "num_layers", where),
        "K": _whole(args, "K", where, 2),
        "norm": _choice(args, "norm", where, ("ln", "gln", "cln")),
        "skip_around_intra": _flag(args, "skip_around_intra", where),
        "linear_layer_after_inter_intra": _flag(args, "linear_layer_after_inter_intra", where),
        "intra_layers": intra["layers"],
        "inter_layers": inter["layers"],
        **shared,
    }


def _resepformer_args(hp: Hyperparams, node: Tagged, codec: dict) -> dict:
    args = hp.arguments(node)
    where = f"line {node.line}: ResourceEfficientSeparator"
    if _whole(args, "input_dim", where) != codec["channels"]:
        raise Refused(f"{where}: input_dim={args['input_dim']} differs from the encoder's")
    mem_type = args["mem_type"]
    if mem_type != "av":
        raise Refused(
            f"{where}: mem_type={mem_type!r} (SkiM's LSTM memory) is not supported (only 'av')"
        )
    cls = _RE + "SBTransformerBlock_wnormandskip"
    seg = _transformer(hp, args["seg_model"], "ResourceEfficientSeparator seg_model", cls)
    mem = _transformer(hp, args["mem_model"], "ResourceEfficientSeparator mem_model", cls)
    if seg["d_model"] != codec["channels"]:
        raise Refused(f"{where}: d_model={seg['d_model']} differs from input_dim")
    shared = _same_blocks(seg, mem, "the segment and memory models")
    num_spks = _whole(args, "num_spk", where)
    if num_spks < 2:
        raise Refused(f"{where}: num_spk={num_spks}: Cocktail runs RE-SepFormer separators only")
    return {
        "num_spks": num_spks,
        **codec,
        "layer": _whole(args, "layer", where),
        "segment_size": _whole(args, "segment_size", where),
        "nonlinear": _choice(args, "nonlinear", where, ("relu", "sigmoid", "tanh")),
        "seg_layers": seg["layers"],
        "mem_layers": mem["layers"],
        **shared,
    }


MASKNETS = {
    _DP + "Dual_Path_Model": ("SepFormer", _sepformer_args),
    _RE + "ResourceEfficientSeparator": ("RE-SepFormer", _resepformer_args),
}


def convert_hyperparams(data: dict) -> tuple[str, str, dict, int]:
    """Parsed hyperparams -> (SpeechBrain's model name, the port's registry name, its arguments,
    the sample rate); Refused naming the first thing that does not fit."""
    hp = Hyperparams(data)
    modules = hp.resolve(data.get("modules"))
    if not isinstance(modules, dict) or any(m not in modules for m in MODULES):
        raise Refused(
            "no 'modules' mapping with encoder, masknet and decoder (what SpeechBrain's "
            "separation interface runs)"
        )
    codec = _codec(hp, modules)
    masknet = hp.new(modules["masknet"], "modules: masknet", tuple(MASKNETS))
    name, convert = MASKNETS[masknet.target]
    args = convert(hp, masknet, codec)
    if "num_spks" in data:
        top = hp.resolve(data["num_spks"])
        if top != args["num_spks"]:
            raise Refused(f"num_spks={top!r} differs from the masknet's {args['num_spks']}")
    if "sample_rate" not in data:
        raise Refused("no sample_rate (the file does not say the rate its model runs at)")
    rate = _whole({"sample_rate": hp.resolve(data["sample_rate"])}, "sample_rate", "sample_rate")
    if name == "SepFormer" and args["num_spks"] == 1:
        port = "speechbrain-sepformer-enhancement"
    else:
        port = "speechbrain-sepformer" if name == "SepFormer" else "speechbrain-resepformer"
    return name, port, {**args, "sample_rate": rate}, rate


# -- the checkpoint files ----------------------------------------------------------------------


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def load_state_dict(path: Path) -> dict:
    """One ``.ckpt`` (a state dict that ``torch.save`` wrote), vetted and loaded with
    ``weights_only=True``; CheckpointError naming the file otherwise."""
    state = checks.load_vetted(path)
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: not a SpeechBrain module state dict (names to tensors)")
    return state


def _drop_positions(state: dict, path: Path) -> dict:
    """The state dict without SpeechBrain's stored positional tables (``*.pos_enc.pe``, computed by
    the ports), each checked against the formula: a table that differs is refused."""
    out = {}
    for key, value in state.items():
        if not key.endswith("pos_enc.pe"):
            out[key] = value
            continue
        if value.dim() != 3 or value.shape[0] != 1 or value.shape[2] % 2:
            raise CheckpointError(f"{path}: '{key}' is {list(value.shape)}, not a position table")
        expected = sinusoids(value.shape[1], value.shape[2])
        if not torch.allclose(value[0].float(), expected, atol=1e-4):
            raise CheckpointError(f"{path}: '{key}' is not SpeechBrain's sinusoidal position table")
    return out


def _check_fit(state: dict, expected: dict, path: Path, what: str) -> None:
    """One module's weights against the port's: names and shapes; CheckpointError naming the file."""
    misfit = checks.weights_misfit(state, expected, "the hyperparams give")
    if misfit:
        raise CheckpointError(
            f"{path}: weights do not fit the {what} that {HYPERPARAMS} describes: {misfit}"
        )


def is_speechbrain_folder(path: Path) -> bool:
    return path.is_dir() and (path / HYPERPARAMS).is_file()


def folder_checkpoint(folder) -> dict:
    """A SpeechBrain pretrained folder -> a Cocktail checkpoint dict (format 1) for the matching
    port; the hyperparams' numbers, the source format and the files' SHA-256 are kept under
    ``imported``. Raises CheckpointError naming the file and the problem."""
    folder = Path(folder)
    yaml_path = folder / HYPERPARAMS
    if not yaml_path.is_file():
        raise CheckpointError(
            f"{folder}: a folder without {HYPERPARAMS} (not a SpeechBrain pretrained model)"
        )
    try:
        name, port, args, rate = convert_hyperparams(read_hyperparams(yaml_path))
    except Refused as err:
        raise CheckpointError(f"{yaml_path}: {err}") from None
    cls = get_model_class(port)
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in cls(**args).state_dict().items()}
    except Exception as err:  # noqa: BLE001 - the port's own check, one line
        raise CheckpointError(f"{yaml_path}: {name} cannot be built ({err})") from None
    state, hashes = {}, {HYPERPARAMS: _sha256(yaml_path)}
    for module in MODULES:
        path = folder / f"{module}.ckpt"
        if not path.is_file():
            raise CheckpointError(
                f"{path}: missing ({name} needs {module}.ckpt beside {HYPERPARAMS})"
            )
        part = _drop_positions(load_state_dict(path), path)
        prefix = f"{module}."
        _check_fit(
            part,
            {k[len(prefix) :]: v for k, v in expected.items() if k.startswith(prefix)},
            path,
            f"{name} {module}",
        )
        state.update({prefix + k: v for k, v in part.items()})
        hashes[path.name] = _sha256(path)
    kind = (
        "enhancement (speech and noise)"
        if args["num_spks"] == 1
        else f"{args['num_spks']} speakers"
    )
    return {
        "format": FORMAT_NAME,
        "format_version": 1,
        "model_name": port,
        "model_args": args,
        "state_dict": state,
        "sample_rate": rate,
        "n_src": 2 if args["num_spks"] == 1 else args["num_spks"],
        "stft": None,
        "training": {
            "description": f"Imported from SpeechBrain {name} ({kind}, {rate} Hz), with the "
            f"hyperparameters of {HYPERPARAMS} (not trained by Cocktail)."
        },
        "metrics": {},
        "imported": {
            "from": "speechbrain",
            "label": f"SpeechBrain {name}",
            "model_name": name,
            "source_format": SOURCE_FORMAT,
            "files_sha256": hashes,
            "model_args": dict(args),
        },
    }
