"""The deep clustering half of a trained ``chimera-tcn`` checkpoint as a ``dc-tcn`` checkpoint: the
same trunk and embedding head, without the mask head, validated on its own (k-means with K = each
set's speaker count) on the validation sets of the run that trained it.

    python scripts/dc_from_chimera.py CHIMERA.pt RUN_DIR OUT.pt [--description TEXT]

The Chimera++ loss trains the embeddings and the masks together; this gives a model whose every K,
two speakers included, comes from clustering (the Embeddings view's model, and `--num-speakers`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from separation_core.checkpoints.store import (  # noqa: E402
    checkpoint_dict,
    load_checkpoint,
    save_checkpoint_dict,
)
from separation_core.data.mixing import load_mixture_set  # noqa: E402
from separation_core.errors import CocktailError  # noqa: E402
from separation_core.models.chimera_tcn import DeepClusteringTcn  # noqa: E402
from separation_core.training.validation import valid_folder, validate_sets  # noqa: E402


def deep_clustering_half(ckpt: dict) -> DeepClusteringTcn:
    if ckpt["model_name"] != "chimera-tcn":
        raise CocktailError(f"holds a '{ckpt['model_name']}' model, not 'chimera-tcn'")
    args = {k: v for k, v in ckpt["model_args"].items() if k != "mask_activation"}
    model = DeepClusteringTcn(**args)
    state = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("mask_head.")}
    model.load_state_dict(state)  # strict: every tensor of the dc-tcn comes from the checkpoint
    return model.eval()


def validate(model: DeepClusteringTcn, run_dir: Path) -> dict:
    """``valid_*`` metrics on ``run_dir/valid`` and ``valid_*_3spk`` on ``run_dir/valid-3spk``
    (as the run logged them), with the oracle IRM's SI-SDRi that the run recorded for each."""
    valids = []
    for suffix in ("", *sorted(f"_{f.name[len('valid-') :]}" for f in run_dir.glob("valid-*/"))):
        folder = valid_folder(run_dir, suffix)
        if (folder / "metadata.json").exists():
            valids.append((suffix, load_mixture_set(folder, sample_rate=model.sample_rate)))
    metrics, _ = validate_sets(model, valids, "cpu")
    report = {f"valid_{k}": v for k, v in metrics.items()}
    for suffix, _ in valids:
        folder = valid_folder(run_dir, suffix)
        oracle = folder.with_name(f"{folder.name}_oracle_irm.json")
        if oracle.exists():
            report[f"valid_oracle_irm_si_sdri{suffix}"] = json.loads(oracle.read_text())["si_sdri"]
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("chimera", type=Path)
    p.add_argument("run_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--description", default="")
    a = p.parse_args()
    if a.out.exists():
        raise CocktailError(f"{a.out}: already exists (remove it first)")
    ckpt = load_checkpoint(a.chimera)
    model = deep_clustering_half(ckpt)
    metrics = validate(model, a.run_dir)
    metrics["step"] = ckpt["metrics"].get("step", ckpt["training"].get("steps"))
    training = dict(ckpt["training"])
    training["loss"] = f"{training.get('loss')}; this model keeps the deep clustering head"
    training["description"] = a.description or training.get("description", "")
    training["extracted_from"] = a.chimera.name
    training["trained_as"] = ckpt["model_name"]
    save_checkpoint_dict(a.out, checkpoint_dict(model, training=training, metrics=metrics))
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
