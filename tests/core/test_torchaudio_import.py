"""torchaudio's Conv-TasNet state dict (the ``CONVTASNET_BASE_LIBRI2MIX`` pipeline's file): the
reference is torchaudio's own ``conv_tasnet.py`` ported as source (``tests/torchaudio_reference.py``:
torchaudio has no CPU build for this torch and is not installed), built with random weights, saved
as the pipeline's file is (``torch.save(model.state_dict())``), opened with ``--model FILE`` and
compared on spoken mixtures (at least 30 dB SI-SDR); files that do not fit are refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio_reference as reference

from helpers import needs_espeak, si_sdr_reference, spoken_mixture
from separation_core.checkpoints.catalog import load_model, resolve
from separation_core.cli import main
from separation_core.engine.inference import EngineOptions, separate
from separation_core.errors import CheckpointError

MIN_SI_SDR = 30.0  # dB, Cocktail's output against torchaudio's

CASES = {
    # conv_tasnet_base(num_sources=2): the Libri2Mix pipeline's model, full size
    "conv_tasnet_base_libri2mix": dict(num_sources=2),
    # smaller, three sources, an odd kernel (the input-alignment padding of odd kernels), 2 stacks
    "small-3src-odd-kernel": dict(
        num_sources=3,
        enc_kernel_size=15,
        enc_num_feats=64,
        msk_kernel_size=3,
        msk_num_feats=32,
        msk_num_hidden_feats=48,
        msk_num_layers=8,
        msk_num_stacks=2,
        msk_activate="relu",
    ),
}


def build(options: dict) -> torch.nn.Module:
    """torchaudio's ConvTasNet with random weights; every bias, norm gain and PReLU moved off its
    initial value."""
    torch.manual_seed(0)
    if set(options) == {"num_sources"}:
        model = reference.conv_tasnet_base(**options)
    else:
        model = reference.ConvTasNet(**options)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
    return model.eval()


@needs_espeak
@pytest.mark.filterwarnings("ignore:divide by zero")  # outputs equal to the last bit: SI-SDR is inf
@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_matches_torchaudio(case, tmp_path):
    theirs_model = build(CASES[case])
    path = tmp_path / f"{case}.pt"
    torch.save(theirs_model.state_dict(), path)
    n_src = theirs_model.num_sources
    mixture = spoken_mixture(8000, n_src)
    with torch.no_grad():
        theirs = theirs_model(torch.from_numpy(mixture).reshape(1, 1, -1))[0].numpy()
    entry = resolve(path)
    assert (entry.model_name, entry.sample_rate, entry.n_src) == (
        "torchaudio-convtasnet",
        8000,
        n_src,
    )
    assert entry.imported_from == "torchaudio ConvTasNet" and entry.trained
    assert entry.num_parameters == sum(p.numel() for p in theirs_model.parameters())
    model = load_model(entry)
    with torch.no_grad():
        ours = model(torch.from_numpy(mixture)[None])["waveforms"][0].numpy()
    result = separate(model, mixture, 8000, EngineOptions(chunk_seconds=None))
    assert ours.shape == result.waveforms.shape == theirs.shape == (n_src, len(mixture))
    for k in range(n_src):
        assert si_sdr_reference(ours[k], theirs[k]) > MIN_SI_SDR
        assert si_sdr_reference(result.waveforms[k], theirs[k]) > MIN_SI_SDR
    assert result.mask_kind == "effective" and result.masks.shape[0] == n_src


@pytest.mark.parametrize("length", [7999, 8000, 8001, 20])
def test_lengths_that_need_alignment_padding(length):
    """Any input length: torchaudio pads the input to a frame boundary and cuts the output back."""
    options = dict(CASES["small-3src-odd-kernel"], enc_kernel_size=16)
    theirs_model = build(options)
    model = load_model_from_state(theirs_model.state_dict())
    x = torch.randn(1, length)
    with torch.no_grad():
        theirs = theirs_model(x[:, None])[0]
        ours = model(x)["waveforms"][0]
    assert ours.shape == theirs.shape == (3, length)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def load_model_from_state(state: dict):
    from separation_core.checkpoints.store import model_from_checkpoint

    return model_from_checkpoint(dict(state))


def _refused(path, capsys, tmp_path) -> str:
    import soundfile as sf

    mix = tmp_path / "mix.wav"
    sf.write(mix, np.zeros(8000, np.float32), 8000)
    capsys.readouterr()
    code = main(["separate", str(mix), "--model", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and str(path) in err, err
    assert not (tmp_path / "out").exists()
    with pytest.raises(CheckpointError):
        resolve(path)
    return err


def test_files_that_do_not_fit_are_refused_in_one_line(tmp_path, capsys):
    small = build(CASES["small-3src-odd-kernel"]).state_dict()
    path = tmp_path / "bad.pt"
    odd_stacks = {
        k: v for k, v in small.items() if not k.startswith("mask_generator.conv_layers.15.")
    }
    torch.save(odd_stacks, path)
    assert "15 blocks, not stacks of 8" in _refused(path, capsys, tmp_path)
    wrong = dict(small)
    wrong["mask_generator.output_prelu.weight"] = torch.ones(4)
    torch.save(wrong, path)
    assert "'mask_generator.output_prelu.weight' is [4]" in _refused(path, capsys, tmp_path)
    torch.save({**small, "mask_generator.output_conv.weight": torch.ones(100, 32, 1)}, path)
    assert "not a multiple" in _refused(path, capsys, tmp_path)
    torch.save(small, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    assert "truncated" in _refused(path, capsys, tmp_path)
