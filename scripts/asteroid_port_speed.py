"""Speed of the Asteroid ports at their published sizes (docs/models.md): random weights, 10 s of
input, no_grad, one run after a 1 s warm-up, on 1 and 2 torch threads; wall and CPU time.

Run: ``nice -n 10 python scripts/asteroid_port_speed.py [WORD ...]`` (only the configurations whose
label holds one of the words, e.g. ``ConvTasNet DPRNN``).
"""

import sys
import time

import torch

import separation_core.models.builtin  # noqa: F401
from separation_core.models.registry import get_model_class

CONFIGS = {
    "DPTNet_Libri1Mix_enhsingle_16k": (
        "asteroid-dptnet",
        dict(
            n_src=1,
            n_filters=64,
            kernel_size=16,
            stride=8,
            chunk_size=100,
            hop_size=50,
            n_heads=4,
            ff_hid=256,
            n_repeats=2,
            norm_type="gLN",
            mask_act="sigmoid",
            sample_rate=16000,
        ),
    ),
    "ConvTasNet_Libri1Mix_enhsingle_16k": (
        "asteroid-convtasnet",
        dict(
            n_src=1,
            n_filters=512,
            kernel_size=32,
            stride=16,
            bn_chan=128,
            hid_chan=512,
            skip_chan=128,
            n_blocks=8,
            n_repeats=3,
            mask_act="relu",
            sample_rate=16000,
        ),
    ),
    "DPRNNTasNet-ks2_Libri1Mix_enhsingle_16k": (
        "asteroid-dprnn",
        dict(
            n_src=1,
            n_filters=64,
            kernel_size=2,
            stride=1,
            bn_chan=128,
            hid_size=128,
            chunk_size=250,
            hop_size=125,
            n_repeats=6,
            mask_act="sigmoid",
            bidirectional=True,
            sample_rate=16000,
        ),
    ),
    "SuDORMRFNet (Asteroid default, 1.0x)": ("asteroid-sudormrf", dict(n_src=2, sample_rate=8000)),
    "SuDORMRFImprovedNet (Asteroid default, 1.0x)": (
        "asteroid-sudormrf-improved",
        dict(n_src=2, sample_rate=8000),
    ),
    "DCUNet_Libri1Mix_enhsingle_16k": (
        "asteroid-dcunet",
        dict(
            architecture="Large-DCUNet-20",
            stft_n_filters=1024,
            stft_kernel_size=1024,
            stft_stride=256,
            fix_length_mode="pad",
            sample_rate=16000,
        ),
    ),
    "DCCRNet_Libri1Mix_enhsingle_16k": (
        "asteroid-dccrnet",
        dict(architecture="DCCRN-CL", sample_rate=16000),
    ),
}
wanted = sys.argv[1:]
for label, (name, kw) in CONFIGS.items():
    if wanted and not any(w in label for w in wanted):
        continue
    torch.manual_seed(0)
    model = get_model_class(name)(**kw).eval()
    params = sum(p.numel() for p in model.parameters())
    x = 0.1 * torch.randn(1, 10 * model.sample_rate)
    row = [label, name, f"{params:,}"]
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.no_grad():
            model(x[:, : model.sample_rate])  # warm-up on 1 s
            w0, c0 = time.perf_counter(), time.process_time()
            model(x)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        row.append(
            f"{threads} thread(s): wall {wall:.2f} s ({10 / wall:.2f}x), cpu {cpu:.2f} s ({10 / cpu:.2f}x)"
        )
        print(" | ".join(row), flush=True)
