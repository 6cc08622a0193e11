"""A run's logs: ``train.csv`` and ``valid.csv`` (one row per step), and TensorBoard's."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

LOG_FILES = ("train.csv", "valid.csv")


def append_csv_row(path: Path, row: dict) -> None:
    """Append ``row`` to the CSV file ``path``, with a header line first in a new file."""
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_log(path: Path, step: int) -> None:
    """Drop the rows of a CSV log written after ``step`` (a resumed run replays them)."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or all(float(r["step"]) <= step for r in rows):
        return
    kept = [r for r in rows if float(r["step"]) <= step]
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    os.replace(tmp, path)


class RunLogs:
    """CSV files always; TensorBoard when it is installed (rank 0 only)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except Exception:  # tensorboard is optional (the "train" extra)
            self.tb = None

    def scalars(self, name: str, step: int, values: dict) -> None:
        """One row of ``{name}.csv`` at ``step``; the finite numbers also to TensorBoard."""
        append_csv_row(self.run_dir / f"{name}.csv", {"step": step, **values})
        if self.tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.tb.add_scalar(f"{name}/{key}", value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
