"""SI-SDRi of a Chimera++ model's two paths on a mixture set: its mask head and its deep clustering
embeddings clustered by k-means (K = the set's speaker count), each mixture separated whole (a deep
clustering model: its embeddings only).

    python scripts/embedding_eval.py MODEL SET_DIR [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from separation_core.checkpoints.catalog import load_model  # noqa: E402
from separation_core.data.mixing import load_mixture_set  # noqa: E402
from separation_core.evaluation.scoring import evaluate_separation  # noqa: E402
from separation_core.models.deep_clustering import cluster_masks  # noqa: E402


def si_sdri(est: np.ndarray, refs: np.ndarray, mix: np.ndarray, sample_rate: int) -> float:
    """Mean SI-SDRi of ``est [K, T]`` against ``refs [S, T]`` under the best assignment."""
    return evaluate_separation(est, refs, mix, sample_rate, metrics=("si_sdri",)).mean["si_sdri"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("set_dir")
    p.add_argument("--limit", type=int)
    a = p.parse_args()
    loaded = load_model(a.model)
    net = getattr(loaded, "model", loaded)
    items = load_mixture_set(a.set_dir, sample_rate=net.sample_rate, limit=a.limit)
    head, clustered = [], []
    for item in items:
        mix = torch.as_tensor(np.asarray(item.mixture, dtype=np.float32))
        refs = np.asarray(item.sources)
        with torch.no_grad():
            out = net(mix[None])
            spec, emb = out["mix_spec"][0], out["embeddings"][0]
            masks, _ = cluster_masks(emb, spec.abs(), len(refs), "kmeans")
            waves = net.synthesise(masks, spec, mix.shape[-1]).numpy()
        clustered.append(si_sdri(waves, refs, mix.numpy(), net.sample_rate))
        if len(refs) == net.n_src and "masks" in out:  # a mask head (Chimera++)
            waves = net.separate_chunk(mix).waveforms.numpy()
            head.append(si_sdri(waves, refs, mix.numpy(), net.sample_rate))
    print(
        f"{len(items)} mixtures: mask head "
        + (f"{np.mean(head):.2f} dB" if head else "-")
        + f", clustered embeddings (K={len(refs)}) {np.mean(clustered):.2f} dB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
