"""Writing results to files: their stems, the residual and the JSON sidecar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np


@dataclass(frozen=True)
class ExportItem:
    """One result to write to its planned files (``target``: an ExportTarget of the core's
    ``export_plan``, named from ``input_stem`` and the template)."""

    result: Any
    entry: Any
    input_stem: str
    options: dict
    metrics: Optional[dict] = None
    timings: Optional[dict] = None
    sample_rate: Optional[int] = None  # None: the result's (the input's) rate
    target: Any = None  # None: planned by the job
    corrections: tuple = ()  # of who talks when (app.meeting): dicts, oldest first
    adaptation: Optional[dict] = None  # "Adapt to this recording": ``Adaptation.to_dict``


@dataclass(frozen=True)
class ExportJob:
    """Write the stems of each item (plus the residual and the JSON sidecar when asked); publishes
    each item's model id once written; returns every path written."""

    items: tuple
    out_dir: Path
    template: str
    subtype: str
    extension: str
    residual_of: Optional[np.ndarray] = None
    overwrite: bool = False
    sidecar: bool = True
    input_path: Optional[Path] = None
    references: tuple = ()

    def run(self, ctx) -> list:
        from separation_core.io import export
        from separation_core.io.export_plan import ExportRequest, plan_exports

        residual = self.residual_of is not None
        targets = [item.target for item in self.items]
        if None in targets:  # not planned by the dialog: plan them all here, collisions refused
            targets = plan_exports(
                [
                    ExportRequest(it.entry.id, it.input_stem, it.result.n_src, it.entry.id)
                    for it in self.items
                ],
                self.out_dir,
                template=self.template,
                extension=self.extension,
                residual=residual,
                sidecar=self.sidecar,
                rttm=True,
            )
            targets = with_turns_only(targets, [it.result for it in self.items])
        source = None
        if self.sidecar and self.items:  # one input: hashed once, whatever the number of results
            first = self.items[0].result
            source = export.describe_input(
                self.input_path, first.sample_rate, first.waveforms.shape[-1]
            )
        written = []
        for i, (item, target) in enumerate(zip(self.items, targets)):
            ctx.cancel.raise_if_cancelled()
            ctx.progress(i / len(self.items), f"exporting {item.entry.id}")
            sidecar = None
            if self.sidecar:
                options = dict(
                    item.options,
                    **export.output_options(self.extension, self.subtype, self.template, residual),
                )
                sidecar = export.build_sidecar(
                    source,
                    item.entry,
                    options,
                    metrics=item.metrics,
                    timings=item.timings,
                    references=self.references,
                    notes=item.result.notes,
                )
                if item.adaptation is not None:  # as `cocktail separate --adapt` writes it
                    sidecar["adaptation"] = dict(item.adaptation)
                if item.corrections:
                    sidecar["corrections"] = [dict(c) for c in item.corrections]
            written += export.write_target(
                item.result,
                target,
                subtype=self.subtype,
                sample_rate=item.sample_rate,
                residual_of=self.residual_of,
                overwrite=self.overwrite,
                sidecar=sidecar,
            )
            ctx.publish(item.entry.id)  # this result is saved
        ctx.progress(1.0, "exported")
        return written


def with_turns_only(targets: list, results: list) -> list:
    """Targets planned with an RTTM file, without it for results that have no turns."""
    from dataclasses import replace

    return [t if r.turns is not None else replace(t, rttm=None) for t, r in zip(targets, results)]


def evaluation_dict(evaluation) -> Optional[dict]:
    """A metrics Evaluation as plain JSON values."""
    if evaluation is None:
        return None
    return {
        "permutation": [int(p) for p in evaluation.permutation],
        "per_source": [dict(d) for d in evaluation.per_source],
        "mean": dict(evaluation.mean),
    }
