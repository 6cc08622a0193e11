"""Reference models built with Asteroid's own code, for the import tests: the package (skipped when
absent), random weights away from their initial values, files as Asteroid's ``serialize()`` writes
them, and one-line refusals.

Import as ``from asteroid_reference import ...`` (tests/conftest.py puts this folder on sys.path).
"""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest
import torch


def asteroid_models():
    """``asteroid.models`` (installed with ``pip install --no-deps asteroid huggingface_hub`` beside
    asteroid-filterbanks and requests; no torchaudio). ``BaseModel.serialize()`` imports
    pytorch_lightning only to record its version: a stand-in module is given when it is absent."""
    if "pytorch_lightning" not in sys.modules:
        try:
            import pytorch_lightning  # noqa: F401
        except ImportError:
            sys.modules["pytorch_lightning"] = types.SimpleNamespace(__version__="not installed")
    try:
        import asteroid.masknn.recurrent as recurrent
        import asteroid.models as models
    except ImportError as err:
        pytest.skip(f"asteroid is not installed ({err}); see the README's test command")
    # asteroid 0.7 gives DCCRN's RNN a numpy integer as its input size, which torch >= 2.x
    # refuses: the reference is built with the same size as a Python int.
    rnn_init = recurrent.DCCRMaskNetRNN.__init__
    if not getattr(rnn_init, "takes_int", False):

        def init(self, in_size, *args, **kwargs):
            rnn_init(self, int(in_size), *args, **kwargs)

        init.takes_int = True
        recurrent.DCCRMaskNetRNN.__init__ = init
    return models


def build(models, cls_name: str, options: dict):
    """``models.<cls_name>(**options)`` in eval mode, seeded, with every gain, bias and PReLU moved
    away from its initial value and batch-norm statistics that are not 0 / 1."""
    torch.manual_seed(0)
    with warnings.catch_warnings():  # DPTNet warns when n_filters is not a multiple of n_heads
        warnings.simplefilter("ignore")
        model = getattr(models, cls_name)(**options)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.1)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
    return model.eval()


def save(model, path, **infos):
    """``model.serialize()`` with ``infos`` added, written as Asteroid's recipes and hub do."""
    conf = model.serialize()
    conf["infos"].update(infos)
    torch.save(conf, path)
    return path


def close(ours, theirs) -> float:
    """max |ours - theirs| relative to the peak of ``theirs``."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def refused(path) -> str:
    """The one-line CheckpointError, naming the file, that opening ``path`` gives."""
    from separation_core.checkpoints.catalog import resolve
    from separation_core.errors import CheckpointError

    with pytest.raises(CheckpointError) as err:
        resolve(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message
