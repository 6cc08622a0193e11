"""The architecture study's table and learning curves (validation SI-SDRi against CPU-hours) from the
runs' CSV logs: prints the table and writes docs/study-curves.svg.

    python scripts/study_report.py runs/study-convtasnet runs/study-dprnn runs/study-sudormrf
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def read_run(run: Path) -> dict:
    rows = list(csv.DictReader((run / "valid.csv").open()))
    config = json.loads((run / "config.json").read_text())
    curve = [(float(r["cpu_hours"] or 0), float(r["si_sdri"]), int(float(r["step"]))) for r in rows]
    train = list(csv.DictReader((run / "train.csv").open())) if (run / "train.csv").exists() else []
    return {
        "name": run.name.removeprefix("study-"),
        "model": config["model"],
        "args": config["model_args"],
        "curve": curve,
        "oracle": float(rows[0]["oracle_irm_si_sdri"]) if rows else None,
        "steps": int(train[-1]["step"]) if train else 0,
        "valid_num": config["valid_num"],
    }


def value_at(curve, hours: float):
    """The best validation SI-SDRi reached within ``hours`` CPU-hours (None if the run has none)."""
    seen = [v for h, v, _ in curve if h <= hours + 1e-9 and h > 0]
    return max(seen) if seen else None


def svg(runs: list[dict], width=720, height=420) -> str:
    pad_l, pad_r, pad_t, pad_b = 60, 160, 20, 50
    xs = [h for r in runs for h, _, _ in r["curve"]]
    ys = [v for r in runs for h, v, _ in r["curve"] if h > 0]
    x_max = max(xs + [0.1])
    y_min, y_max = min(ys + [0.0]), max(ys + [1.0])
    y_min = max(y_min, y_max - 30)

    def px(h):
        return pad_l + (width - pad_l - pad_r) * h / x_max

    def py(v):
        v = max(v, y_min)
        return pad_t + (height - pad_t - pad_b) * (1 - (v - y_min) / (y_max - y_min or 1))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="12"><rect width="100%" height="100%" fill="white"/>'
    ]
    for k in range(6):
        v = y_min + (y_max - y_min) * k / 5
        out.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#ddd"/>'
            f'<text x="{pad_l - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>'
        )
        h = x_max * k / 5
        out.append(
            f'<text x="{px(h):.1f}" y="{height - pad_b + 16}" text-anchor="middle">{h:.2f}</text>'
        )
    out.append(
        f'<text x="{(pad_l + width - pad_r) / 2}" y="{height - 12}" text-anchor="middle">CPU-hours '
        f"(process time of the run, validation included)</text>"
    )
    out.append(
        f'<text x="14" y="{(pad_t + height - pad_b) / 2}" transform="rotate(-90 14 '
        f'{(pad_t + height - pad_b) / 2})" text-anchor="middle">validation SI-SDRi (dB)</text>'
    )
    for k, run in enumerate(runs):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(f"{px(h):.1f},{py(v):.1f}" for h, v, _ in run["curve"] if h > 0)
        if points:
            out.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
            )
        out.append(
            f'<text x="{width - pad_r + 10}" y="{pad_t + 16 + 18 * k}" fill="{colour}">{run["name"]}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def table(runs: list[dict], budgets=(0.25, 0.5, 0.75, 1.0)) -> str:
    head = (
        "| run | model | parameters | steps | CPU-hours | "
        + " | ".join(f"best SI-SDRi by {b:g} CPU-h" for b in budgets)
        + " | last SI-SDRi |"
    )
    lines = [head, "|" + "---|" * (6 + len(budgets))]
    for r in runs:
        cells = [value_at(r["curve"], b) for b in budgets]
        hours = r["curve"][-1][0] if r["curve"] else 0.0
        last = r["curve"][-1][1] if len(r["curve"]) > 1 else None
        lines.append(
            f"| {r['name']} | `{r['model']}` {json.dumps(r['args'])} | {r.get('params', '?')} | "
            f"{r['steps']:,} | {hours:.2f} | "
            + " | ".join("-" if c is None else f"{c:.2f}" for c in cells)
            + f" | {'-' if last is None else f'{last:.2f}'} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from separation_core.checkpoints.store import model_from_checkpoint

    runs = []
    for path in args.runs:
        run = read_run(path)
        if (path / "last.pt").exists():
            run["params"] = (
                f"{model_from_checkpoint(path / 'last.pt').num_parameters() / 1e6:.2f} M"
            )
        runs.append(run)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "study-curves.svg").write_text(svg(runs))
    print(table(runs))
    print(
        f"\noracle IRM on the validation set: {runs[0]['oracle']:.2f} dB ({runs[0]['valid_num']} mixtures)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
