"""The model a fine-tuning run (``--init``) starts from: a checkpoint's weights, in the same model
or in one that contains it."""

from __future__ import annotations

import inspect
import sys

from separation_core.checkpoints.store import load_checkpoint, model_from_checkpoint
from separation_core.errors import CocktailError
from separation_core.models.registry import get_model_class


def warm_started_model(path: str, model_name: str, model_args: dict, *, quiet: bool = False):
    """The ``model_name`` model to fine-tune from checkpoint ``path``.

    Same model: its architecture and weights. A model that contains the checkpoint's (e.g.
    ``chimera``, a ``dc-blstm`` plus a mask head, or a Conv-TasNet with more repeats through
    ``model_args``): the checkpoint's arguments that the new model takes, overridden by
    ``model_args``, all its tensors, and the new layers as ``init_new_layers`` sets them. A
    model of another family takes all but the layers its ``warm_start_drops`` name
    (``chimera-tcn`` from a ``convtasnet``: the trunk, not the decoder).
    """
    ckpt = load_checkpoint(path)
    cls = get_model_class(model_name)
    same = ckpt["model_name"] == cls.name
    if same and not model_args:
        return model_from_checkpoint(ckpt)
    accepted = inspect.signature(cls.__init__).parameters
    args = {k: v for k, v in ckpt["model_args"].items() if k in accepted}
    model = cls(**{**args, **model_args})
    own = model.state_dict()
    shared = {k: v for k, v in ckpt["state_dict"].items() if k in own and own[k].shape == v.shape}
    drops = () if same else cls.warm_start_drops
    lacking = [k for k in ckpt["state_dict"] if k not in shared and not k.startswith(drops)]
    if lacking:
        new = (
            f"the '{cls.name}' that --model-arg asks for"
            if same
            else f"holds a '{ckpt['model_name']}' model, not '{cls.name}', and '{cls.name}'"
        )
        raise CocktailError(
            f"{path}: {new} has no place for its layer '{lacking[0]}' (a warm start may add "
            "layers, not resize them)"
        )
    model.load_state_dict(shared, strict=False)
    model.init_new_layers(set(shared))
    if not quiet:
        print(
            f"--init: {len(shared)} of {len(own)} tensors from a '{ckpt['model_name']}' "
            "model, the others new",
            file=sys.stderr,
        )
    return model
