"""The card of a model adapted to one recording (``cocktail separate --adapt --keep-adapted``), all
from its checkpoint's ``adapted`` record."""

from __future__ import annotations

import json
from pathlib import Path

from separation_core.models.registry import get_model_class


def _dash(value, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def adapted_card(ckpt: dict, path: Path) -> str:
    """Markdown: what the model was adapted from, on which recording, with how much solo speech of
    each person, how many steps, and the held-out figures before and after."""
    a = ckpt["adapted"]
    cls = get_model_class(ckpt["model_name"])
    people = a.get("solo_seconds") or []
    history = a.get("history") or []
    lines = [
        f"# {path.stem}",
        "",
        f"`{a.get('from_model')}` adapted to the recording `{a.get('input')}`: fine-tuned on mixtures "
        "of that recording's own solo stretches (each person talking alone, clear of every overlap), "
        "for the overlaps of that recording and of others made in the same room with the same "
        "people. On other recordings it may separate worse than the model it was adapted from.",
        "",
        "| | |",
        "|---|---|",
        f"| adapted from | `{a.get('from_model')}` (`{ckpt['model_name']}`: {cls.description}) |",
        f"| from checkpoint sha256 | `{a.get('from_sha256') or '–'}` |",
        f"| recording | `{a.get('input')}`, sha256 `{a.get('input_sha256') or '–'}` |",
        f"| who talks when | {a.get('turns_from', '–')} |",
        "| solo speech per person | "
        + ", ".join(f"Person {k + 1}: {s:.1f} s" for k, s in enumerate(people))
        + " |",
        f"| budget | {a.get('budget')} |",
        f"| steps | {a.get('steps')} of batch {a.get('batch_size')}, kept step {a.get('best_step')} |",
        f"| time, device | {_dash(a.get('seconds'), '.0f')} s on {a.get('device')} |",
        f"| held-out SI-SDRi before | {_dash(a.get('valid_before'))} dB |",
        f"| held-out SI-SDRi after | {_dash(a.get('valid_after'))} dB |",
        f"| arguments | `{json.dumps(ckpt['model_args'], sort_keys=True)}` |",
        "",
        "## How",
        "",
        f"- Solo stretches of at least {a.get('min_stretch_seconds')} s, {a.get('margin_seconds')} s "
        f"kept clear of each overlap; {a.get('valid_share', 0):.0%} of each person's stretches held "
        "out (whole stretches, spread over the recording).",
        "- Training mixtures: crops of 2-4 s of two different people (every pair in turn), "
        "relative level drawn in +-5 dB, fresh at every step; held-out: "
        f"{a.get('valid_mixtures')} fixed 3 s mixtures of the held-out stretches.",
        f"- Loss: the model's own ({a.get('loss')}); Adam, learning rate {a.get('lr'):g} after "
        f"{a.get('warmup_steps')} warm-up steps, constant; seed {a.get('seed')}.",
        "- Validation (step, seconds, held-out SI-SDRi dB): "
        + ", ".join(f"({s}, {t:.0f}, {v:.2f})" for s, t, v in history)
        + ".",
        f"- Adapted on {a.get('created', '–')}.",
        "",
    ]
    return "\n".join(lines)
