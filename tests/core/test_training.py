"""Training: each family's loss goes down, the trainer writes/resumes runs, torchrun scale-out."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import voice
from separation_core.checkpoints.cards_training import train_command
from separation_core.checkpoints.store import load_checkpoint, model_from_checkpoint
from separation_core.commands.train import parse_model_args
from separation_core.data import select_split
from separation_core.data.mixing import load_mixture_set
from separation_core.errors import CocktailError, ModelError
from separation_core.models import get_model_class
from separation_core.training import precision
from separation_core.training.batches import alternating_batches, training_batches
from separation_core.training.config import TrainConfig
from separation_core.training.logs import truncate_log
from separation_core.training.objectives import attractor_loss, family_loss, loss_name
from separation_core.training.precision import bf16_supported, effective_precision
from separation_core.training.schedule import learning_rate, weight_average
from separation_core.training.trainer import Trainer

SR = 8000
TINY = {
    "ff-mask": dict(hidden=32, layers=1, context=1),
    "lstm-mask": dict(hidden=16, layers=1),
    "blstm-mask": dict(hidden=16, layers=1),
    "dc-blstm": dict(hidden=16, layers=1, embedding_dim=8),
    "chimera": dict(hidden=16, layers=1, embedding_dim=8),
    "chimera-tcn": dict(
        n_filters=16, filter_length=16, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1
    ),
    "dc-tcn": dict(
        n_filters=16, filter_length=16, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1
    ),
    "convtasnet": dict(
        n_filters=16, filter_length=16, bottleneck=8, hidden=16, skip=8, n_blocks=2, n_repeats=1
    ),
    "dprnn": dict(n_filters=16, filter_length=16, features=8, hidden=8, chunk=20, n_blocks=1),
}


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    """12 synthetic 'speakers' named like LibriSpeech, each a different pitch, two files each."""
    root = tmp_path_factory.mktemp("speech")
    for k in range(12):
        for u in range(2):
            x = voice(90 + 25 * k, 1.5, SR, seed=100 * k + u, syllable_hz=2 + k % 3)
            sf.write(root / f"{1000 + k}-1-{u:04d}.flac", x, SR)
    return root


def fixed_batch(n=4, seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    srcs = np.stack(
        [
            np.stack(
                [
                    voice(rng.uniform(90, 300), seconds, SR, seed=int(rng.integers(1e6)))
                    for _ in range(2)
                ]
            )
            for _ in range(n)
        ]
    )
    src = torch.from_numpy(srcs)
    mix = src.sum(1)
    scale = mix.std(dim=-1, keepdim=True)
    return mix / scale, src / scale.unsqueeze(1)


@pytest.mark.parametrize("name", sorted(TINY))
def test_each_family_lowers_its_loss(name):
    torch.manual_seed(0)
    model = get_model_class(name)(sample_rate=SR, **TINY[name])
    mix, src = fixed_batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = family_loss(model, model, mix, src)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 0.05 * abs(np.mean(losses[:3])), losses


@pytest.mark.parametrize("name", ["convtasnet", "chimera"])
def test_bf16_forward_gives_a_float32_loss_near_the_fp32_one_and_still_learns(name):
    torch.manual_seed(0)
    model = get_model_class(name)(sample_rate=SR, **TINY[name])
    mix, src = fixed_batch()
    exact = float(family_loss(model, model, mix, src).detach())
    half = float(family_loss(model, model, mix, src, precision="bf16").detach())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = family_loss(model, model, mix, src, precision="bf16")
        assert loss.dtype == torch.float32
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 0.05 * abs(np.mean(losses[:3])), losses
    with pytest.raises(ModelError, match="unknown precision 'fp8'"):
        family_loss(model, model, mix, src, precision="fp8")
    if not bf16_supported("cpu"):
        pytest.skip("this CPU has no bfloat16 kernels: 'bf16' ran in float32, nothing to compare")
    assert abs(half - exact) < 0.05 * abs(exact) + 0.05, (half, exact)


def _specs(model, mix, src):
    from separation_core.models.transforms import stft

    return stft(mix, model.stft_params), stft(src, model.stft_params)


def test_attractor_loss_of_ideal_embeddings_is_the_si_sdr_of_their_soft_binary_masks():
    """Embeddings one-hot on each bin's loudest speaker: the attractors are those one-hot vectors,
    so each bin gives its owner 1 / (1 + e^-6) and the other e^-6 / (1 + e^-6) (sharpness 3,
    squared distance 2)."""
    from separation_core.evaluation.metrics import si_sdr
    from separation_core.models.transforms import istft

    model = get_model_class("dc-blstm")(sample_rate=SR, **TINY["dc-blstm"])
    mix, src = fixed_batch()
    mix_spec, src_specs = _specs(model, mix, src)
    b, s, f, t = src_specs.shape
    owner = src_specs.abs().argmax(1)  # [B, F, T]
    emb = torch.nn.functional.one_hot(owner.reshape(b, f * t), s).float()
    loss = attractor_loss(emb, mix_spec, src_specs, src, model.stft_params)
    own = 1 / (1 + np.exp(-6.0))
    masks = np.where(owner.numpy()[:, None] == np.arange(s)[None, :, None, None], own, 1 - own)
    est = istft(torch.from_numpy(masks).float() * mix_spec.unsqueeze(1), model.stft_params, SR)
    expected = -si_sdr(est.numpy(), src.numpy()).mean()
    assert float(loss) == pytest.approx(expected, abs=1e-3)
    assert expected < -8  # about 10 dB: nearly the ideal binary mask, a loss worth minimising to
    # The one-hot centres are a fixed point of k-means: its steps change nothing.
    stepped = attractor_loss(emb, mix_spec, src_specs, src, model.stft_params, kmeans_steps=3)
    assert float(stepped) == pytest.approx(float(loss), abs=1e-4)


def test_attractor_loss_ignores_rotations_of_the_embedding_space_and_the_speaker_order():
    torch.manual_seed(0)
    model = get_model_class("dc-blstm")(sample_rate=SR, **TINY["dc-blstm"])
    mix, src = fixed_batch()
    mix_spec, src_specs = _specs(model, mix, src)
    emb = torch.nn.functional.normalize(torch.randn(4, src_specs[0, 0].numel(), 8), dim=-1)
    rotation = torch.linalg.qr(torch.randn(8, 8))[0]
    p = model.stft_params
    loss = attractor_loss(emb, mix_spec, src_specs, src, p)
    assert float(attractor_loss(emb @ rotation, mix_spec, src_specs, src, p)) == pytest.approx(
        float(loss), abs=1e-3
    )
    swapped = attractor_loss(emb, mix_spec, src_specs.flip(1), src.flip(1), p)
    assert float(swapped) == pytest.approx(float(loss), abs=1e-3)


def test_attractor_kmeans_steps_are_lloyd_steps_from_the_oracle_attractors():
    """Against numpy: power-weighted Lloyd steps over the active bins from each speaker's mean
    embedding, soft masks around the final centres, SI-SDR under the best permutation."""
    from separation_core.evaluation.metrics import si_sdr
    from separation_core.models.features import active_bins
    from separation_core.models.transforms import istft

    torch.manual_seed(1)
    model = get_model_class("dc-blstm")(sample_rate=SR, **TINY["dc-blstm"])
    mix, src = fixed_batch(n=2)
    mix_spec, src_specs = _specs(model, mix, src)
    b, s, f, t = src_specs.shape
    emb = torch.nn.functional.normalize(torch.randn(b, f * t, 3), dim=-1)
    got = float(attractor_loss(emb, mix_spec, src_specs, src, model.stft_params, kmeans_steps=2))
    first = float(attractor_loss(emb, mix_spec, src_specs, src, model.stft_params))
    assert (
        abs(got - first) > 1e-3
    )  # the steps moved the centres: random embeddings are no fixed point
    mag = mix_spec.abs()
    power = (mag.pow(2) * active_bins(mag, 40.0)).reshape(b, -1).double().numpy()
    owner = src_specs.abs().argmax(1).reshape(b, -1).numpy()
    v = emb.double().numpy()
    scores = []
    for i in range(b):
        centres = np.stack(
            [np.average(v[i], axis=0, weights=power[i] * (owner[i] == k)) for k in range(s)]
        )
        for _ in range(2):
            nearest = ((v[i][:, None] - centres[None]) ** 2).sum(-1).argmin(1)
            centres = np.stack(
                [np.average(v[i], axis=0, weights=power[i] * (nearest == k)) for k in range(s)]
            )
        logits = -3 * ((v[i][:, None] - centres[None]) ** 2).sum(-1)
        masks = np.exp(logits - logits.max(1, keepdims=True))
        masks = (masks / masks.sum(1, keepdims=True)).T.reshape(s, f, t)
        est = istft(torch.from_numpy(masks).float() * mix_spec[i], model.stft_params, SR).numpy()
        ref = src[i].numpy()
        scores.append(max(si_sdr(est, ref).mean(), si_sdr(est[::-1], ref).mean()))
    assert got == pytest.approx(-np.mean(scores), abs=2e-3)


def test_attractor_weight_mixes_the_attractor_loss_into_the_deep_clustering_term_and_trains():
    torch.manual_seed(0)
    model = get_model_class("dc-blstm")(sample_rate=SR, **TINY["dc-blstm"])
    mix, src = fixed_batch()
    with torch.no_grad():
        dc = float(family_loss(model, model, mix, src))
        both = float(family_loss(model, model, mix, src, attractor_weight=0.25))
        emb = model(mix)["embeddings"]
        att = float(attractor_loss(emb, *_specs(model, mix, src), src, model.stft_params))
    assert both == pytest.approx(0.75 * dc + 0.25 * att, abs=1e-4)
    assert loss_name(model, attractor_weight=0.25) == (
        "deep clustering (0.75) + attractor si-sdr (0.25)"
    )
    assert loss_name(model) == "deep clustering"
    assert loss_name(model, attractor_weight=0.5, attractor_kmeans_steps=3) == (
        "deep clustering (0.5) + attractor si-sdr after 3 k-means steps (0.5)"
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = family_loss(model, model, mix, src, attractor_weight=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 0.5, losses


@pytest.mark.parametrize("name", ["blstm-mask", "chimera"])
def test_si_sdr_mask_loss_is_the_pit_si_sdr_of_the_resynthesised_masks_and_trains(name):
    from separation_core.evaluation.metrics import si_sdr

    torch.manual_seed(0)
    model = get_model_class(name)(sample_rate=SR, **TINY[name])
    mix, src = fixed_batch()
    half = {"masks": torch.full((4, 2, model.n_freq, model.frames_of(mix.shape[-1])), 0.5)}
    with torch.no_grad():
        real = model.forward
        model.forward = lambda x: {**real(x), **half}
        loss = family_loss(model, model, mix, src, mask_loss="si_sdr", chimera_alpha=0.0)
        model.forward = real
    # Half of the mixture is the estimate of each source: SI-SDR ignores the scale.
    expected = -si_sdr(mix.numpy()[:, None, :], src.numpy()).mean()
    assert float(loss) == pytest.approx(expected, abs=1e-3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = family_loss(model, model, mix, src, mask_loss="si_sdr")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 0.05 * abs(np.mean(losses[:3])), losses
    with pytest.raises(ModelError, match="unknown mask loss 'l1'"):
        family_loss(model, model, mix, src, mask_loss="l1")


def test_a_window_first_made_in_inference_mode_still_serves_training():
    from separation_core.models.transforms import StftParams, istft, stft

    p = StftParams(n_fft=96, hop=24, win_length=96, sample_rate=SR)  # a grid no other test uses
    x = torch.randn(2, 800)
    with torch.inference_mode():
        istft(stft(x, p), p, 800)
    gain = torch.ones(1, requires_grad=True)
    istft(stft(x, p) * gain, p, 800).pow(2).sum().backward()
    assert gain.grad is not None and torch.isfinite(gain.grad).all()


ONEDNN = "could not create a primitive descriptor for the LSTM forward propagation primitive"


@pytest.fixture
def bf16_state(monkeypatch):
    """The bf16 probe's cache, emptied for the test and restored after it."""
    monkeypatch.setattr(precision, "_SUPPORT", {})
    monkeypatch.setattr(precision, "_WARNED", set())
    return precision


def _bf16_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == precision.__name__ and r.levelname == "WARNING"
    ]


def _tiny_chimera():
    torch.manual_seed(0)
    return get_model_class("chimera")(sample_rate=SR, **TINY["chimera"]), *fixed_batch(n=2)


def test_bf16_on_a_cpu_without_it_trains_in_fp32_with_one_warning(bf16_state, monkeypatch, caplog):
    monkeypatch.setattr(bf16_state, "_probe", lambda device: (False, ONEDNN))
    model, mix, src = _tiny_chimera()
    exact = family_loss(model, model, mix, src)
    with caplog.at_level("WARNING"):
        losses = [family_loss(model, model, mix, src, precision="bf16") for _ in range(3)]
    assert all(torch.equal(loss, exact) for loss in losses)
    assert _bf16_warnings(caplog) == [
        f"bf16 is not supported on this CPU ({ONEDNN}); training in float32 instead"
    ]


def test_a_bf16_forward_that_fails_is_retried_in_fp32_once_and_for_all(
    bf16_state, monkeypatch, caplog
):
    monkeypatch.setattr(bf16_state, "_probe", lambda device: (True, ""))
    model, mix, src = _tiny_chimera()
    exact = family_loss(model, model, mix, src)
    under_autocast = []

    def net(x):
        under_autocast.append(torch.is_autocast_enabled("cpu"))
        if under_autocast[-1]:
            raise RuntimeError(ONEDNN)
        return model(x)

    with caplog.at_level("WARNING"):
        losses = [family_loss(model, net, mix, src, precision="bf16") for _ in range(2)]
    assert under_autocast == [True, False, False]  # bf16 tried at the first step only
    assert all(torch.equal(loss, exact) for loss in losses)
    assert len(_bf16_warnings(caplog)) == 1 and ONEDNN in _bf16_warnings(caplog)[0]
    assert not bf16_supported("cpu")


def test_a_model_fault_under_bf16_is_not_taken_for_missing_support(bf16_state, monkeypatch):
    monkeypatch.setattr(bf16_state, "_probe", lambda device: (True, ""))
    model, mix, src = _tiny_chimera()

    def broken(x):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        family_loss(model, broken, mix, src, precision="bf16")
    assert bf16_supported("cpu")


def test_the_probe_catches_a_missing_bf16_lstm_kernel(bf16_state, monkeypatch, caplog):
    real = torch.nn.LSTM.forward

    def no_bf16_lstm(self, *args, **kwargs):
        if torch.is_autocast_enabled("cpu"):
            raise RuntimeError(ONEDNN)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.LSTM, "forward", no_bf16_lstm)
    with caplog.at_level("WARNING"):
        assert effective_precision("bf16", "cpu") == "fp32"
        assert effective_precision("bf16", "cpu") == "fp32"
    assert effective_precision("fp32", "cpu") == "fp32"
    assert len(_bf16_warnings(caplog)) == 1 and ONEDNN in _bf16_warnings(caplog)[0]
    monkeypatch.setattr(torch.nn.LSTM, "forward", real)
    monkeypatch.setattr(bf16_state, "_SUPPORT", {})
    assert bf16_supported("cpu") in (True, False)  # the real probe never raises, whatever the CPU


def test_untrainable_models_are_refused(tmp_path, speech_dir):
    cfg = TrainConfig(
        model="oracle-irm", out=str(tmp_path / "r"), speech_dirs=[str(speech_dir)], steps=2
    )
    with pytest.raises(CocktailError, match="nothing to train|no parameters"):
        Trainer(cfg, quiet=True).run()


def _config(out, speech_dir, steps, **kw):
    return TrainConfig(
        model="convtasnet",
        out=str(out),
        speech_dirs=[str(speech_dir)],
        model_args=dict(sample_rate=SR, **TINY["convtasnet"]),
        steps=steps,
        steps_per_epoch=3,
        batch_size=2,
        segment_seconds=0.5,
        lr=5e-3,
        warmup_steps=2,
        valid_num=2,
        **kw,
    )


def test_trainer_writes_run_and_resume_continues_exactly(tmp_path, speech_dir):
    straight = tmp_path / "straight"
    result = Trainer(_config(straight, speech_dir, 6), quiet=True).run()
    assert result["step"] == 6
    for name in (
        "best.pt",
        "last.pt",
        "train.csv",
        "valid.csv",
        "config.json",
        "valid_oracle_irm.json",
    ):
        assert (straight / name).exists(), name
    rows = list(csv.DictReader((straight / "valid.csv").open()))
    assert [int(r["step"]) for r in rows] == [0, 3, 6]
    last = load_checkpoint(straight / "last.pt")
    assert last["training"]["steps"] == 6 and "valid_si_sdri" in last["metrics"]
    assert "valid_oracle_irm_si_sdri" in last["metrics"]
    assert "trainer" not in load_checkpoint(straight / "best.pt")

    split = tmp_path / "split"
    Trainer(
        _config(split, speech_dir, 3, schedule_steps=6), quiet=True
    ).run()  # the same cosine plan
    with pytest.raises(CocktailError, match="--resume"):
        Trainer(_config(split, speech_dir, 6), quiet=True).run()
    with (split / "train.csv").open("a") as f:  # rows a killed process wrote after its last save
        f.write("4,0.0,0.0,0.0,1\n5,0.0,0.0,0.0,1\n")
    Trainer(_config(split, speech_dir, 6), resume=True, quiet=True).run()
    a = load_checkpoint(straight / "last.pt")["state_dict"]
    b = load_checkpoint(split / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [int(r["step"]) for r in csv.DictReader((split / "train.csv").open())]
    assert steps == list(range(1, 7))


def test_weight_average_is_the_exponential_moving_average_of_the_updates():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    assert weight_average(model, 0.0, None) is None
    ema, expected = weight_average(model, 0.9, None), None
    for _ in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema.update_parameters(model)
        w = model.weight.detach().clone()
        expected = w if expected is None else 0.9 * expected + 0.1 * w  # the first update copies
    assert torch.allclose(ema.module.weight, expected, atol=1e-6)
    assert not torch.allclose(ema.module.weight, model.weight)
    state = {"ema": ema.module.state_dict(), "ema_updates": 4}
    restored = weight_average(model, 0.9, state)
    assert torch.equal(restored.module.weight, ema.module.weight)
    assert int(restored.n_averaged) == 4


def test_the_seed_draws_new_training_mixtures_and_keeps_the_validation_set(tmp_path, speech_dir):
    data = {}
    for seed in (0, 3):
        trainer = Trainer(_config(tmp_path / str(seed), speech_dir, 1, seed=seed), quiet=True)
        trainer.run()
        model = model_from_checkpoint(load_checkpoint(tmp_path / str(seed) / "last.pt"))
        train = trainer._datasets(model)[0][0]
        valid = load_mixture_set(tmp_path / str(seed) / "valid")
        data[seed] = train[0][0], [item.mixture for item in valid]
    assert not torch.equal(data[0][0], data[3][0])
    assert all(np.array_equal(a, b) for a, b in zip(data[0][1], data[3][1], strict=True))


def test_the_trainer_keeps_the_weight_average_and_resumes_it_exactly(tmp_path, speech_dir):
    straight, split = tmp_path / "straight", tmp_path / "split"
    Trainer(_config(straight, speech_dir, 6, ema_decay=0.5), quiet=True).run()
    Trainer(_config(split, speech_dir, 3, ema_decay=0.5, schedule_steps=6), quiet=True).run()
    at_3 = load_checkpoint(split / "last.pt")["trainer"]["ema"]
    Trainer(_config(split, speech_dir, 6), resume=True, quiet=True).run()
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(split / "last.pt")
    assert a["trainer"]["ema_updates"] == b["trainer"]["ema_updates"] == 6
    assert all(torch.equal(a["trainer"]["ema"][k], b["trainer"]["ema"][k]) for k in at_3)
    assert any(not torch.equal(a["trainer"]["ema"][k], a["state_dict"][k]) for k in at_3)
    best = load_checkpoint(straight / "best.pt")  # the validated average, not the trained weights
    kept = a["trainer"]["ema"] if best["metrics"]["step"] == 6 else at_3
    assert all(torch.equal(best["state_dict"][k], kept[k]) for k in kept)
    assert a["training"]["ema_decay"] == 0.5
    assert "--ema-decay 0.5 --out RUN_DIR" in train_command(a)

    plain = tmp_path / "plain"  # a run without an average may add one when it resumes
    Trainer(_config(plain, speech_dir, 3), quiet=True).run()
    assert "ema" not in load_checkpoint(plain / "last.pt")["trainer"]
    Trainer(_config(plain, speech_dir, 6, ema_decay=0.9), resume=True, quiet=True).run()
    assert load_checkpoint(plain / "last.pt")["trainer"]["ema_updates"] == 3
    assert json.loads((plain / "config.json").read_text())["ema_decay"] == 0.9


def test_cosine_schedule_warms_up_then_decays_to_its_floor_and_plateau_is_kept_for_old_runs():
    cfg = TrainConfig(
        model="convtasnet", out="x", steps=1000, lr=1e-3, warmup_steps=100, min_lr_ratio=0.1
    )
    rates = [learning_rate(cfg, k) for k in range(1000)]
    assert rates[0] == pytest.approx(1e-5) and rates[99] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[99:], rates[100:]))  # no rise after the warm-up
    mid = 100 + (1000 - 100) // 2
    assert rates[mid] == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5), rel=1e-6)  # half way: cos = 0
    assert rates[-1] == pytest.approx(1e-4, rel=1e-3)
    longer = TrainConfig(
        model="convtasnet",
        out="x",
        steps=2000,
        lr=1e-3,
        warmup_steps=100,
        min_lr_ratio=0.1,
        schedule_steps=1000,
    )
    assert learning_rate(longer, 1500) == pytest.approx(1e-4)  # past its horizon: the floor
    plateau = TrainConfig(
        model="convtasnet", out="x", steps=1000, lr=1e-3, warmup_steps=100, schedule="plateau"
    )
    assert learning_rate(plateau, 500, lr_factor=0.25) == pytest.approx(2.5e-4)


def test_worker_processes_draw_the_same_batches_as_the_loop(speech_dir):
    from separation_core.data import DynamicMixDataset

    train = DynamicMixDataset(
        speech_dir, sample_rate=SR, segment_seconds=0.25, epoch_size=6, seed=2
    )
    inline = training_batches(train, 3, 2, step=2, workers=0)
    pooled = training_batches(train, 3, 2, step=2, workers=2)
    for _ in range(4):  # crosses an epoch boundary
        (ma, sa), (mb, sb) = next(inline), next(pooled)
        assert ma.shape == (2, 2000) and sa.shape == (2, 2, 2000)
        assert torch.equal(ma, mb) and torch.equal(sa, sb)


def test_a_time_limit_stops_the_run_validated_and_resumable(tmp_path, speech_dir):
    run = tmp_path / "run"
    result = Trainer(_config(run, speech_dir, 50, max_minutes=1e-9), quiet=True).run()
    assert result["step"] == 1  # the first update outlasts the limit
    assert load_checkpoint(run / "last.pt")["trainer"]["step"] == 1
    assert [int(r["step"]) for r in csv.DictReader((run / "valid.csv").open())] == [0, 1]
    assert Trainer(_config(run, speech_dir, 3), resume=True, quiet=True).run()["step"] == 3


def test_truncate_log_drops_rows_after_the_resumed_step(tmp_path):
    log = tmp_path / "train.csv"
    log.write_text("step,loss\n1,0.5\n2,0.4\n3,0.3\n")
    truncate_log(log, 2)
    assert log.read_text().splitlines() == ["step,loss", "1,0.5", "2,0.4"]
    truncate_log(tmp_path / "missing.csv", 2)  # nothing to do


def test_a_corrupt_validation_file_is_skipped_not_fatal(tmp_path, speech_dir):
    speech = tmp_path / "speech"
    shutil.copytree(speech_dir, speech)
    valid = select_split(speech, "valid")
    assert valid, "the fixture needs a valid-split speaker"
    for files in valid.values():  # one of the two files of every valid speaker
        files[0].write_bytes(b"RIFF garbage, not audio" * 10)
    with pytest.warns(UserWarning, match="skipped"):
        result = Trainer(_config(tmp_path / "run", speech, 2), quiet=True).run()
    assert result["step"] == 2


def test_resume_may_switch_precision_add_speed_perturbation_and_keeps_the_rest(
    tmp_path, speech_dir
):
    run = tmp_path / "run"
    Trainer(_config(run, speech_dir, 3), quiet=True).run()
    assert load_checkpoint(run / "last.pt")["training"]["speed_range"] is None
    other = _config(run, speech_dir, 6, precision="bf16", speed_range=(0.9, 1.1))
    other.lr = 1.0  # ignored on resume: the recorded configuration wins
    result = Trainer(other, resume=True, quiet=True).run()
    assert result["step"] == 6
    saved = json.loads((run / "config.json").read_text())
    assert (
        saved["precision"] == "bf16" and saved["lr"] == 5e-3 and saved["speed_range"] == [0.9, 1.1]
    )
    training = load_checkpoint(run / "last.pt")["training"]
    assert training["precision"] == "bf16" and training["speed_range"] == [0.9, 1.1]
    Trainer(_config(run, speech_dir, 7, precision="bf16"), resume=True, quiet=True).run()
    assert json.loads((run / "config.json").read_text())["speed_range"] == [0.9, 1.1]


def test_trained_checkpoint_separates_at_once(tmp_path, speech_dir):
    from separation_core.cli import main

    run = tmp_path / "run"
    Trainer(_config(run, speech_dir, 3), quiet=True).run()
    wav = next(speech_dir.glob("*.flac"))
    assert (
        main(
            [
                "separate",
                str(wav),
                "--model",
                str(run / "best.pt"),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "o").glob("*_s*.wav"))) == 2


def test_train_command_reads_one_folder_per_speaker(tmp_path, speech_dir, capsys):
    from separation_core.cli import main

    root = tmp_path / "by-speaker"
    for k, path in enumerate(sorted(speech_dir.glob("*.flac"))):
        folder = root / f"talker{path.name.split('-')[0]}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / f"take{k}.flac")  # names that say nothing of the speaker
    args = [
        "train",
        "--model",
        "ff-mask",
        "--model-arg",
        "hidden=16",
        "--model-arg",
        "layers=1",
        "--speech",
        str(root),
        "--out",
        str(tmp_path / "run"),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--segment-seconds",
        "1",
        "--valid-num",
        "2",
        "--quiet",
    ]
    assert (
        main(args) == 0
    )  # auto: names that say nothing, all in sub-folders -> one folder per speaker
    assert (tmp_path / "run" / "best.pt").is_file()
    assert main(args + ["--rule", "folder", "--out", str(tmp_path / "run2")]) == 0
    assert (tmp_path / "run2" / "best.pt").is_file()
    assert main(args + ["--rule", "librispeech", "--out", str(tmp_path / "run3")]) == 2
    assert "no audio file with a speaker id found (rule 'librispeech')" in capsys.readouterr().err


def test_init_starts_a_new_run_from_a_checkpoints_weights(tmp_path, speech_dir):
    from separation_core.checkpoints.store import load_checkpoint

    first = tmp_path / "first"
    Trainer(_config(first, speech_dir, 3), quiet=True).run()
    source = load_checkpoint(first / "last.pt")
    tuned = tmp_path / "tuned"
    cfg = _config(tuned, speech_dir, 1, init=str(first / "last.pt"))
    cfg.model_args, cfg.lr = {}, 0.0  # a zero rate keeps the starting weights
    Trainer(cfg, quiet=True).run()
    out = load_checkpoint(tuned / "last.pt")
    assert out["model_args"] == source["model_args"]
    assert out["training"]["steps"] == 1 and out["training"]["initialised_from"] == "last.pt"
    for name, value in source["state_dict"].items():
        assert torch.equal(out["state_dict"][name], value), name
    with pytest.raises(CocktailError, match="not 'dprnn'"):
        Trainer(
            TrainConfig(
                model="dprnn",
                out=str(tmp_path / "x"),
                speech_dirs=[str(speech_dir)],
                steps=1,
                init=str(first / "last.pt"),
            ),
            quiet=True,
        ).run()
    resized = _config(tmp_path / "y", speech_dir, 1, init=str(first / "last.pt"))
    resized.model_args = {"hidden": 24}
    with pytest.raises(CocktailError, match="asks for has no place for its layer 'blocks.0"):
        Trainer(resized, quiet=True).run()


def test_a_conv_tasnet_grown_by_a_repeat_starts_as_the_smaller_one(tmp_path, speech_dir):
    first = tmp_path / "small"
    Trainer(_config(first, speech_dir, 2), quiet=True).run()
    small = model_from_checkpoint(load_checkpoint(first / "last.pt")).eval()
    cfg = _config(tmp_path / "grown", speech_dir, 1, init=str(first / "last.pt"))
    cfg.model_args, cfg.lr = {"n_repeats": 2}, 0.0
    Trainer(cfg, quiet=True).run()
    grown = model_from_checkpoint(load_checkpoint(tmp_path / "grown" / "last.pt")).eval()
    assert len(grown.blocks) == 2 * len(small.blocks)
    assert grown.model_args()["hidden"] == small.model_args()["hidden"]
    assert float(grown.blocks[-1].body[0].weight.detach().abs().sum()) > 0  # bodies at random
    x = torch.randn(1, SR // 2)
    with torch.no_grad():
        torch.testing.assert_close(grown(x)["waveforms"], small(x)["waveforms"])


def test_init_from_a_model_the_new_one_contains_warm_starts_its_layers(tmp_path, speech_dir):
    first = tmp_path / "dc"
    cfg = _config(first, speech_dir, 2)
    cfg.model, cfg.model_args = "dc-blstm", dict(sample_rate=SR, **TINY["dc-blstm"])
    Trainer(cfg, quiet=True).run()
    source = load_checkpoint(first / "last.pt")
    cfg = _config(tmp_path / "chimera", speech_dir, 1, init=str(first / "last.pt"))
    cfg.model, cfg.model_args, cfg.lr = "chimera", {"mask_activation": "softmax"}, 0.0
    Trainer(cfg, quiet=True).run()
    out = load_checkpoint(tmp_path / "chimera" / "last.pt")
    assert out["model_name"] == "chimera" and out["model_args"]["mask_activation"] == "softmax"
    assert out["model_args"]["hidden"] == TINY["dc-blstm"]["hidden"]
    for name, value in source["state_dict"].items():
        assert torch.equal(out["state_dict"][name], value), name
    assert "mask_head.weight" in out["state_dict"]
    # The other way round, the chimera's mask head has no place in a dc-blstm.
    back = _config(tmp_path / "back", speech_dir, 1, init=str(tmp_path / "chimera" / "last.pt"))
    back.model, back.model_args = "dc-blstm", {}
    with pytest.raises(CocktailError, match="no place for its layer 'mask_head"):
        Trainer(back, quiet=True).run()


def test_chimera_tcn_takes_the_trunk_of_a_conv_tasnet(tmp_path, speech_dir):
    first = tmp_path / "tasnet"
    Trainer(_config(first, speech_dir, 2), quiet=True).run()
    source = load_checkpoint(first / "last.pt")
    cfg = _config(tmp_path / "chimera", speech_dir, 1, init=str(first / "last.pt"))
    cfg.model, cfg.model_args, cfg.lr = "chimera-tcn", {"width": 8, "embedding_dim": 4}, 0.0
    Trainer(cfg, quiet=True).run()
    out = load_checkpoint(tmp_path / "chimera" / "last.pt")
    assert out["model_args"]["bottleneck"] == TINY["convtasnet"]["bottleneck"]
    for name, value in source["state_dict"].items():
        if name.startswith(("decoder.", "output.")):
            assert name not in out["state_dict"], name
        else:
            assert torch.equal(out["state_dict"][name], value), name
    assert "embed.proj.weight" in out["state_dict"] and "pool.1.weight" in out["state_dict"]
    # A deep clustering BLSTM has nothing a Conv-TasNet trunk could take.
    dc = tmp_path / "dc"
    cfg = _config(dc, speech_dir, 1)
    cfg.model, cfg.model_args = "dc-blstm", dict(sample_rate=SR, **TINY["dc-blstm"])
    Trainer(cfg, quiet=True).run()
    back = _config(tmp_path / "back", speech_dir, 1, init=str(dc / "last.pt"))
    back.model, back.model_args = "chimera-tcn", {}
    with pytest.raises(CocktailError, match="has no place for its layer 'trunk.rnn"):
        Trainer(back, quiet=True).run()


@pytest.fixture(scope="module")
def many_speakers_dir(tmp_path_factory):
    """40 synthetic speakers of one short file each: enough for three per validation mixture."""
    root = tmp_path_factory.mktemp("many")
    for k in range(40):
        x = voice(90 + 8 * k, 1.0, SR, seed=k, syllable_hz=2 + k % 3)
        sf.write(root / f"{1000 + k}-1-0000.flac", x, SR)
    return root


def test_deep_clustering_trains_and_validates_on_three_speaker_mixtures(
    tmp_path, many_speakers_dir
):
    cfg = _config(tmp_path / "dc3", many_speakers_dir, 2, speakers=3)
    cfg.model, cfg.model_args = "dc-blstm", dict(sample_rate=SR, **TINY["dc-blstm"])
    cfg.attractor_weight, cfg.attractor_kmeans_steps = 0.3, 2
    trainer = Trainer(cfg, quiet=True)
    trainer.run()
    out = load_checkpoint(tmp_path / "dc3" / "last.pt")
    trains, _ = trainer._datasets(model_from_checkpoint(out))
    assert trains[0][0][1].shape[0] == 3  # sources [S, T] of a training mixture
    valid = load_mixture_set(tmp_path / "dc3" / "valid")
    assert {item.sources.shape[0] for item in valid} == {3}
    assert out["training"]["speakers"] == 3 and out["model_args"]["n_src"] == 2
    assert np.isfinite(out["metrics"]["valid_si_sdri"])
    assert out["training"]["loss_options"] == {
        "dc_weighting": "threshold",
        "attractor_weight": 0.3,
        "attractor_kmeans_steps": 2,
    }
    assert (
        "--dc-weighting threshold --attractor-weight 0.3 --attractor-kmeans-steps 2"
        in train_command(out)
    )
    Trainer(_config(tmp_path / "dc3", many_speakers_dir, 3), resume=True, quiet=True).run()
    assert load_checkpoint(tmp_path / "dc3" / "last.pt")["training"]["speakers"] == 3


def test_alternate_speaker_counts_train_every_other_batch_and_validate_both(
    tmp_path, many_speakers_dir
):
    cfg = _config(tmp_path / "alt", many_speakers_dir, 4, alt_speakers=3)
    cfg.model, cfg.model_args = "chimera-tcn", dict(sample_rate=SR, **TINY["chimera-tcn"])
    trainer = Trainer(cfg, quiet=True)
    trainer.run()
    run = tmp_path / "alt"
    trains, valids = trainer._datasets(model_from_checkpoint(load_checkpoint(run / "last.pt")))
    assert [t[0][1].shape[0] for t in trains] == [2, 3]
    assert [(suffix, len(items)) for suffix, items in valids] == [("", 2), ("_3spk", 2)]
    assert {i.sources.shape[0] for i in load_mixture_set(run / "valid-3spk")} == {3}
    batches = alternating_batches(trains, cfg.steps_per_epoch, cfg.batch_size, 0)
    shapes = [next(batches)[1].shape[1] for _ in range(4)]
    assert shapes == [2, 3, 2, 3]
    # From step 3 on: the fourth batch of the unbroken stream (the second 3-speaker one).
    later = next(alternating_batches(trains, cfg.steps_per_epoch, cfg.batch_size, 3))
    again = alternating_batches(trains, cfg.steps_per_epoch, cfg.batch_size, 0)
    for _ in range(3):
        next(again)
    torch.testing.assert_close(later[1], next(again)[1])
    with (run / "valid.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {"si_sdri", "si_sdri_3spk", "oracle_irm_si_sdri_3spk"} <= set(rows[-1])
    out = load_checkpoint(run / "best.pt")
    score = (out["metrics"]["valid_si_sdri"] + out["metrics"]["valid_si_sdri_3spk"]) / 2
    assert max((float(r["si_sdri"]) + float(r["si_sdri_3spk"])) / 2 for r in rows[1:]) == (
        pytest.approx(score)
    )
    assert out["training"]["speakers"] == 2 and out["training"]["alt_speakers"] == 3


def test_alternate_speaker_counts_are_for_clustering_models_only(tmp_path, speech_dir):
    with pytest.raises(CocktailError, match="--alt-speakers 3: a 'convtasnet' model has a fixed"):
        Trainer(_config(tmp_path / "c", speech_dir, 1, alt_speakers=3), quiet=True).run()
    cfg = _config(tmp_path / "d", speech_dir, 1, alt_speakers=2)
    cfg.model, cfg.model_args = "dc-blstm", dict(sample_rate=SR, **TINY["dc-blstm"])
    with pytest.raises(CocktailError, match="--alt-speakers 2: the run's mixtures already have 2"):
        Trainer(cfg, quiet=True).run()


def test_a_fixed_output_model_refuses_another_speaker_count(tmp_path, speech_dir):
    with pytest.raises(CocktailError, match=r"--speakers 3: a 'convtasnet' model gives 2 sources"):
        Trainer(_config(tmp_path / "c3", speech_dir, 1, speakers=3), quiet=True).run()


def test_model_args_parse():
    assert parse_model_args(["hidden=64", "dropout=0.5", "inter-bidirectional=false", "x=abc"]) == {
        "hidden": 64,
        "dropout": 0.5,
        "inter_bidirectional": False,
        "x": "abc",
    }
    with pytest.raises(CocktailError):
        parse_model_args(["novalue"])


def _torchrun(args, cwd, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "separation_core.cli",
        *args,
    ]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_torchrun_two_processes_train_and_write_one_checkpoint(tmp_path, speech_dir):
    run = tmp_path / "ddp"
    margs = [f"--model-arg={k}={v}" for k, v in dict(sample_rate=SR, **TINY["convtasnet"]).items()]
    proc = _torchrun(
        [
            "train",
            "--model",
            "convtasnet",
            *margs,
            "--speech",
            str(speech_dir),
            "--out",
            str(run),
            "--steps",
            "4",
            "--steps-per-epoch",
            "2",
            "--batch-size",
            "2",
            "--segment-seconds",
            "0.5",
            "--valid-num",
            "2",
            "--quiet",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["training"]["world_size"] == 2 and ckpt["training"]["steps"] == 4
    assert sorted(p.name for p in run.glob("*.pt")) == ["best.pt", "last.pt"]
    rows = list(csv.DictReader((run / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]  # rank 0 alone logs


def test_torchrun_batch_separate_writes_every_output_once(tmp_path, speech_dir):
    inputs = sorted(speech_dir.glob("*.flac"))[:5]
    out = tmp_path / "o"
    proc = _torchrun(
        ["separate", *map(str, inputs), "--model", "denoise-wiener", "--out", str(out), "--quiet"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(p.name for p in out.iterdir())
    expected = sorted(
        [f"{p.stem}_s{k}.wav" for p in inputs for k in (1, 2)] + [f"{p.stem}.json" for p in inputs]
    )
    assert written == expected
    for p in inputs:
        assert json.loads((out / f"{p.stem}.json").read_text())["samples"] == sf.info(p).frames
