"""The models shipped in resources/models: a default, within the size budget, each trained, with a
card whose figures are the checkpoint's own (or trained elsewhere, with its source and licence on its
card and the licence beside it), each separating speech faster than real time."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers import two_voices
from separation_core.io.paths import bundled_models_dir

MODELS = bundled_models_dir()
CHECKPOINTS = sorted(MODELS.glob("*.pt"))
# Models trained elsewhere (gtcrn-dns3-16k) carry their licence beside the weights.
PRETRAINED = [p for p in CHECKPOINTS if p.with_suffix(".LICENSE").is_file()]
TRAINED = [p for p in CHECKPOINTS if p not in PRETRAINED]


def test_default_model_is_bundled_and_everything_fits_in_50_mb():
    from separation_core.checkpoints.catalog import default_model_id, resolve

    entry = resolve(None)
    assert entry.id == default_model_id() and entry.origin == "bundled"
    assert (
        entry.model_name in ("convtasnet", "dprnn", "chimera-tcn")
        and entry.sample_rate == 16000
        and entry.n_src == 2
    )
    total = sum(p.stat().st_size for p in MODELS.iterdir() if p.is_file())
    assert total <= 50 * 2**20, f"resources/models holds {total / 2**20:.1f} MiB"
    names = {resolve(p.stem).model_name for p in CHECKPOINTS}
    assert names & {"dc-blstm", "dc-tcn"} and names & {"chimera", "chimera-tcn", "blstm-mask"}


@pytest.mark.parametrize("path", TRAINED, ids=[p.stem for p in TRAINED])
def test_bundled_model_is_trained_and_its_card_tells_its_checkpoint(path):
    from separation_core.checkpoints.store import load_checkpoint

    ckpt = load_checkpoint(path)
    training, metrics = ckpt["training"], ckpt["metrics"]
    assert training["steps"] > 0 and training["hours"] > 0
    card = path.with_suffix(".md").read_text()
    assert f"{training['steps']:,} steps" in card
    assert f"SI-SDRi {metrics['valid_si_sdri']:.2f} dB" in card
    assert re.search(r"\| \*\*" + re.escape(path.stem) + r"\*\* \| -?\d+\.\d\d \|", card), (
        "no test-set row"
    )
    for oracle in ("oracle-ibm", "oracle-irm"):
        assert f"| {oracle} |" in card


@pytest.mark.parametrize("path", PRETRAINED, ids=[p.stem for p in PRETRAINED])
def test_pretrained_bundled_model_card_tells_its_source_and_licence(path):
    from separation_core.checkpoints.store import load_checkpoint

    source = load_checkpoint(path)["imported"]
    card = path.with_suffix(".md").read_text()
    for fact in (
        source["repository"],
        source["commit"],
        source["source_sha256"],
        source["licence"],
    ):
        assert fact in card
    assert f"`{path.with_suffix('.LICENSE').name}`" in card
    assert re.search(r"\| \d+ \| -?\d+\.\d\d \|", card), "no measured figures"


@pytest.mark.parametrize("path", CHECKPOINTS, ids=[p.stem for p in CHECKPOINTS])
def test_bundled_model_separates_two_voices(path):
    from separation_core.checkpoints.catalog import load_model
    from separation_core.engine.inference import separate

    sources, mixture = two_voices(3.0)
    result = separate(load_model(path.stem), mixture, 16000)
    assert result.waveforms.shape == (2, len(mixture))
    assert np.all(np.isfinite(result.waveforms))


@pytest.mark.parametrize("path", CHECKPOINTS, ids=[p.stem for p in CHECKPOINTS])
def test_bundled_model_stems_add_up_to_the_mixture(path):
    # An SI-SDR-trained model's raw outputs have arbitrary level and polarity (the default model's
    # second output came out inverted); the stems must still sum to the mixture they came from.
    from separation_core.checkpoints.catalog import load_model
    from separation_core.engine.inference import separate

    _, mixture = two_voices(3.0)
    stems = separate(load_model(path.stem), mixture, 16000).waveforms
    residual = mixture - stems.sum(axis=0)
    assert 10 * np.log10(np.sum(residual**2) / np.sum(mixture**2)) < -15.0
