"""SpeechBrain pretrained folders: the reference built with SpeechBrain's own code (its loader reads
the hyperparams as SpeechBrain does, random weights), saved in the published layout
(``hyperparams.yaml``, ``encoder.ckpt``, ``masknet.ckpt``, ``decoder.ckpt`` written by SpeechBrain's
``torch_save``), opened with ``--model FOLDER`` and compared on spoken mixtures (at least 30 dB
SI-SDR); then every kind of bad folder is refused in one line naming the file, exit 2, nothing run.

SpeechBrain 1.1 is installed with ``--no-deps`` (see the README's test command): its package imports
torchaudio when it loads although its separation models need only torch, so a stand-in module is put
in ``sys.modules`` while SpeechBrain is imported, and taken out again.
"""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from helpers import needs_espeak, si_sdr_reference, spoken_mixture
from separation_core.checkpoints.catalog import load_model, resolve
from separation_core.cli import main
from separation_core.engine.inference import EngineOptions, separate
from separation_core.errors import CheckpointError

MIN_SI_SDR = 30.0  # dB, Cocktail's output against SpeechBrain's


@pytest.fixture(scope="module")
def speechbrain():
    """(hyperpyyaml's ``load_hyperpyyaml``, SpeechBrain's ``torch_save``); skipped when absent."""
    stand_in = "torchaudio" not in sys.modules
    if stand_in:
        sys.modules["torchaudio"] = types.SimpleNamespace(__version__="2.11.0")
    try:
        from hyperpyyaml import load_hyperpyyaml
        from speechbrain.lobes.models import dual_path, resepformer  # noqa: F401 - for the loader
        from speechbrain.utils.checkpoints import torch_save
    except ImportError as err:
        pytest.skip(f"speechbrain / hyperpyyaml are not installed ({err}); see the README")
    finally:
        if stand_in:
            del sys.modules["torchaudio"]
    return load_hyperpyyaml, torch_save


# Published layouts (speechbrain/sepformer-wsj02mix, -wsj03mix, -wham16k-enhancement,
# resepformer-wsj02mix) with small sizes so that the references run in seconds on two cores.
SEPFORMER = """\
# Model: SepFormer ({name}), as SpeechBrain publishes its inference hyperparams
sample_rate: {rate}
num_spks: {spks}

Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: 16
    out_channels: 48

SBtfintra: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
    num_layers: 2
    d_model: 32
    nhead: 4
    d_ffn: 64
    dropout: 0
    use_positional_encoding: true
    norm_before: {norm_before}

SBtfinter: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
    num_layers: 1
    d_model: 32
    nhead: 4
    d_ffn: 64
    dropout: 0
    use_positional_encoding: true
    norm_before: {norm_before}

MaskNet: !new:speechbrain.lobes.models.dual_path.Dual_Path_Model
    num_spks: !ref <num_spks>
    in_channels: 48
    out_channels: 32
    num_layers: 2
    K: 50
    intra_model: !ref <SBtfintra>
    inter_model: !ref <SBtfinter>
    norm: {norm}
    linear_layer_after_inter_intra: {linear}
    skip_around_intra: true

Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: 48
    out_channels: 1
    kernel_size: 16
    stride: 8
    bias: false

modules:
    encoder: !ref <Encoder>
    decoder: !ref <Decoder>
    masknet: !ref <MaskNet>
"""
RESEPFORMER = """\
sample_rate: 8000
num_spks: 2
N_encoder_out: 32

Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: 16
    out_channels: !ref <N_encoder_out>

intra_mdl: !new:speechbrain.lobes.models.resepformer.SBTransformerBlock_wnormandskip
    num_layers: 2
    d_model: !ref <N_encoder_out>
    nhead: 4
    d_ffn: 64
    dropout: 0
    use_positional_encoding: true
    norm_before: true
    use_norm: true
    use_skip: true

mem_mdl: !new:speechbrain.lobes.models.resepformer.SBTransformerBlock_wnormandskip
    num_layers: 1
    d_model: !ref <N_encoder_out>
    nhead: 4
    d_ffn: 64
    dropout: 0
    use_positional_encoding: true
    norm_before: true
    use_norm: true
    use_skip: true

MaskNet: !new:speechbrain.lobes.models.resepformer.ResourceEfficientSeparator
    input_dim: !ref <N_encoder_out>
    num_spk: !ref <num_spks>
    causal: false
    unit: 256
    segment_size: 40
    layer: 3
    mem_type: av
    seg_model: !ref <intra_mdl>
    mem_model: !ref <mem_mdl>

Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: !ref <N_encoder_out>
    out_channels: 1
    kernel_size: 16
    stride: !ref <N_encoder_out> // 4
    bias: false

modules:
    encoder: !ref <Encoder>
    decoder: !ref <Decoder>
    masknet: !ref <MaskNet>
"""
PRETRAINER = """
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        encoder: !ref <Encoder>
        masknet: !ref <MaskNet>
        decoder: !ref <Decoder>
"""
LAYOUTS = {
    "sepformer-wsj02mix": SEPFORMER.format(
        name="WSJ0-2mix", rate=8000, spks=2, norm="ln", linear="false", norm_before="true"
    ),
    "sepformer-16k-3spk": SEPFORMER.format(
        name="3 speakers", rate=16000, spks=3, norm="gln", linear="true", norm_before="false"
    ),
    "sepformer-wham16k-enhancement": SEPFORMER.format(
        name="enhancement", rate=16000, spks=1, norm="ln", linear="false", norm_before="true"
    ),
    "resepformer-wsj02mix": RESEPFORMER,
}


def write_folder(speechbrain, folder, text: str, seed: int = 0):
    """The folder SpeechBrain publishes, from SpeechBrain's own objects: ``text`` loaded by
    hyperpyyaml (the pretrainer is left out: it only fetches files), every gain, bias and PReLU
    moved off its initial value, each module saved by ``torch_save``. Returns the modules."""
    load_hyperpyyaml, torch_save = speechbrain
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text(text + PRETRAINER)
    torch.manual_seed(seed)
    hparams = load_hyperpyyaml(text)
    modules = hparams["modules"]
    with torch.no_grad():
        for module in modules.values():
            for p in module.parameters():
                if p.dim() == 1 or p.numel() == p.shape[0]:
                    p.add_(0.3 * torch.randn_like(p))
            module.eval()
    for name, module in modules.items():
        torch_save(module, folder / f"{name}.ckpt")
    return hparams


def reference_forward(hparams, mixture: np.ndarray) -> np.ndarray:
    """SpeechBrain's ``SepformerSeparation.separate_batch``, step for step: ``[spks, T]``."""
    mods, spks = hparams["modules"], hparams["num_spks"]
    mix = torch.from_numpy(mixture)[None]
    with torch.no_grad():
        mix_w = mods["encoder"](mix)
        est_mask = mods["masknet"](mix_w)
        sep_h = torch.stack([mix_w] * spks) * est_mask
        est = torch.cat([mods["decoder"](sep_h[i]).unsqueeze(-1) for i in range(spks)], dim=-1)
    t = mix.shape[1]
    est = torch.nn.functional.pad(est, (0, 0, 0, max(0, t - est.shape[1])))[:, :t]
    return est[0].T.numpy()


def noisy_mixture(rate: int, speakers: int) -> np.ndarray:
    """``helpers.spoken_mixture`` of ``speakers`` voices; one voice comes with noise (what an
    enhancer is given)."""
    out = spoken_mixture(rate, max(speakers, 1))
    if speakers == 1:
        out += 0.05 * np.random.default_rng(0).standard_normal(len(out)).astype(np.float32)
    return out


@needs_espeak
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_folder_matches_speechbrain(speechbrain, layout, tmp_path):
    folder = tmp_path / layout
    hparams = write_folder(speechbrain, folder, LAYOUTS[layout])
    rate, spks = hparams["sample_rate"], hparams["num_spks"]
    mixture = noisy_mixture(rate, spks)
    theirs = reference_forward(hparams, mixture)
    entry = resolve(str(folder))
    assert (entry.id, entry.sample_rate, entry.checkpoint) == (layout, rate, folder.resolve())
    assert entry.imported_from == (
        "SpeechBrain RE-SepFormer" if "re" in layout[:2] else "SpeechBrain SepFormer"
    )
    assert entry.trained and entry.outputs_are_voices == (spks > 1)
    model = load_model(entry)
    ours = model(torch.from_numpy(mixture)[None])["waveforms"][0].detach().numpy()
    result = separate(model, mixture, rate, EngineOptions(chunk_seconds=None))
    n_out = max(spks, 2)
    assert ours.shape == result.waveforms.shape == (n_out, len(mixture))
    for k in range(spks):
        assert si_sdr_reference(ours[k], theirs[k]) > MIN_SI_SDR
        assert si_sdr_reference(result.waveforms[k], theirs[k]) > MIN_SI_SDR
    if spks == 1:  # enhancement: speech, then the rest of the mixture
        np.testing.assert_allclose(ours[1], mixture - ours[0], atol=1e-5)
    assert result.masks.shape[0] == n_out and result.mask_kind == "effective"


def test_parameters_and_files_are_recorded(speechbrain, tmp_path):
    import hashlib

    folder = tmp_path / "sepformer-wsj02mix"
    hparams = write_folder(speechbrain, folder, LAYOUTS["sepformer-wsj02mix"])
    entry = resolve(folder)
    weights = sum(
        p.numel()
        for name in ("encoder", "masknet", "decoder")
        for p in hparams["modules"][name].parameters()
    )
    assert entry.num_parameters == weights  # the stored position tables are not parameters
    assert entry.source_format.startswith("SpeechBrain pretrained folder")
    for name in ("hyperparams.yaml", "encoder.ckpt", "masknet.ckpt", "decoder.ckpt"):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert entry.source_sha256[name] == digest


# -- bad folders ---------------------------------------------------------------------------------


def _run_refused(folder, capsys, tmp_path, named) -> str:
    """``cocktail separate`` with ``--model folder``: exit 2 and one line on stderr naming
    ``named`` (a path)."""
    import soundfile as sf

    mix = tmp_path / "mix.wav"
    if not mix.exists():
        sf.write(mix, np.zeros(8000, np.float32), 8000)
    capsys.readouterr()
    code = main(["separate", str(mix), "--model", str(folder), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "\n" not in err and "Traceback" not in err, err
    assert str(named) in err, err
    assert not (tmp_path / "out").exists()
    return err


def _edit(folder, old: str, new: str) -> None:
    path = folder / "hyperparams.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture()
def good_folder(speechbrain, tmp_path):
    folder = tmp_path / "sepformer"
    write_folder(speechbrain, folder, LAYOUTS["sepformer-wsj02mix"])
    return folder


def test_yaml_tags_and_classes_not_known_are_refused_and_never_run(good_folder, tmp_path, capsys):
    marker = tmp_path / "ran"
    yaml_path = good_folder / "hyperparams.yaml"
    cases = [
        (f"__hook: !apply:os.system ['touch {marker}']\n", "!apply:os.system"),
        (f"__hook: !new:subprocess.Popen\n    args: ['touch', '{marker}']\n", "subprocess.Popen"),
        ("fn: !name:builtins.eval\n", "!name:builtins.eval"),
        (f"x: !!python/object/apply:os.system ['touch {marker}']\n", "python/object/apply"),
        ("inc: !include:other.yaml\n", "!include:other.yaml"),
    ]
    original = yaml_path.read_text()
    for extra, word in cases:
        yaml_path.write_text(extra + original)
        message = _run_refused(good_folder, capsys, tmp_path, yaml_path)
        assert word in message and "refused" in message, message
        assert not marker.exists()
    yaml_path.write_text(original.replace("dual_path.SBTransformerBlock", "dual_path.SBRNNBlock"))
    message = _run_refused(good_folder, capsys, tmp_path, yaml_path)
    assert "SBRNNBlock" in message and "DPRNN" in message


def test_bad_hyperparams_are_refused_in_one_line(good_folder, tmp_path, capsys):
    yaml_path = good_folder / "hyperparams.yaml"
    original = yaml_path.read_text()
    for old, new, word in (
        ("    K: 50", "    K: 50\n    frobnicate: 3", "'frobnicate'"),
        ("    norm: ln", "    norm: batchnorm", "norm='batchnorm'"),
        ("num_spks: !ref <num_spks>", "num_spks: !ref <speakers>", "<speakers>"),
        ("sample_rate: 8000\n", "", "sample_rate"),
        ("    K: 50", "    K: 50\n    use_global_pos_enc: true", "use_global_pos_enc"),
        ("    nhead: 4", "    nhead: 3", "nhead"),
        ("modules:", "mods:", "'modules'"),
        ("    K: 50", "    K: [50", "not valid YAML"),
    ):
        yaml_path.write_text(original.replace(old, new, 1))
        message = _run_refused(good_folder, capsys, tmp_path, yaml_path)
        assert word in message, (word, message)


def test_bad_checkpoint_files_are_refused_in_one_line(speechbrain, good_folder, tmp_path, capsys):
    masknet = good_folder / "masknet.ckpt"
    good = masknet.read_bytes()
    masknet.unlink()
    assert "missing" in _run_refused(good_folder, capsys, tmp_path, masknet)
    masknet.write_bytes(b"")
    assert "empty file" in _run_refused(good_folder, capsys, tmp_path, masknet)
    masknet.write_bytes(good[: len(good) // 2])
    assert "truncated" in _run_refused(good_folder, capsys, tmp_path, masknet)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    masknet.write_bytes(pickle.dumps({"w": Payload()}, protocol=2))
    assert "unsafe pickle" in _run_refused(good_folder, capsys, tmp_path, masknet)
    assert not marker.exists()
    # weights of another architecture (a RE-SepFormer's masknet) and of other sizes
    other = tmp_path / "re"
    write_folder(speechbrain, other, RESEPFORMER)
    masknet.write_bytes((other / "masknet.ckpt").read_bytes())
    message = _run_refused(good_folder, capsys, tmp_path, masknet)
    assert "do not fit the SepFormer masknet" in message and "missing" in message
    masknet.write_bytes(good)
    _edit(good_folder, "    d_ffn: 64", "    d_ffn: 96")
    message = _run_refused(good_folder, capsys, tmp_path, masknet)
    assert "[96, 32]" in message or "[64, 32]" in message, message
    with pytest.raises(CheckpointError):
        resolve(good_folder)


def test_listed_exported_carded_and_onnx(speechbrain, tmp_path, monkeypatch, capsys):
    """In the user's models folder the folder is listed by its name with its origin; the sidecar
    records the source format and the files' hashes; the card says where it came from; its graph
    exports to ONNX (onnxruntime reproducing torch)."""
    from separation_core.checkpoints.cards import write_card
    from separation_core.io.export import build_sidecar

    models = tmp_path / "models"
    folder = models / "sepformer-wsj02mix"
    write_folder(speechbrain, folder, LAYOUTS["sepformer-wsj02mix"])
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(models))
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(folder.name))
    assert "imported: SpeechBrain SepFormer" in line and "user" in line and " 8000 " in line
    entry = resolve(folder.name)
    sidecar = build_sidecar(None, entry, {})["model"]
    assert sidecar["imported_from"] == "SpeechBrain SepFormer"
    assert sidecar["checkpoint_sha256"] is None and set(sidecar["source_sha256"]) == {
        "hyperparams.yaml",
        "encoder.ckpt",
        "masknet.ckpt",
        "decoder.ckpt",
    }
    card = write_card(folder, out=tmp_path / "card.md").read_text()
    assert "**Imported** from SpeechBrain SepFormer" in card and "masknet.ckpt" in card
    pytest.importorskip("onnxruntime")
    out = tmp_path / "sepformer.onnx"
    assert main(["export-onnx", str(folder), str(out)]) == 0 and out.stat().st_size > 0
