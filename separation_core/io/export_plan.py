"""The plan of every file an export writes (stems, residual, sidecar), made before any work.

The command line and the desktop program both plan with ``plan_exports`` (the desktop program's
requests from ``result_requests``): two inputs that would write the same file are refused there
(names that differ only in case count as the same: they collide on macOS and Windows),
``refuse_existing`` is the one overwrite check, ``filesets.ensure_writable_folder`` the one
writability check, and ``export.write_target`` writes a planned target with the sidecar of
``export.build_sidecar``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from separation_core.errors import AudioSaveError

DEFAULT_TEMPLATE = "{stem}_s{index}"


@dataclass(frozen=True)
class ExportRequest:
    """One input to export: ``source`` names it in messages (a path, a result's name)."""

    source: str
    input_stem: str
    n_src: int
    model: str = ""


@dataclass(frozen=True)
class ExportTarget:
    """The files of one input: ``stems`` (one per source, then the residual), the sidecar, and
    who talks when as RTTM (conversation results)."""

    source: str
    stems: tuple[Path, ...]
    sidecar: Optional[Path] = None
    rttm: Optional[Path] = None

    @property
    def paths(self) -> tuple[Path, ...]:
        extra = tuple(p for p in (self.sidecar, self.rttm) if p is not None)
        return self.stems + extra

    def with_stems(self, n: int) -> ExportTarget:
        """This target for the first ``n`` stems of its plan (a conversation finds its count)."""
        return replace(self, stems=self.stems[:n])


def stem_paths(
    out_dir: Path,
    input_stem: str,
    n_src: int,
    *,
    template: str = DEFAULT_TEMPLATE,
    extension: str = ".wav",
    residual: bool = False,
    model: str = "",
) -> list[Path]:
    """File names from ``template`` (fields: stem, index (1-based), model); residual last."""
    names = []
    for i in range(n_src):
        try:
            names.append(template.format(stem=input_stem, index=i + 1, model=model))
        except (KeyError, IndexError, ValueError, AttributeError) as e:
            raise AudioSaveError(
                f"file-name template '{template}' is invalid ({e}); "
                "use {stem}, {index} and {model}"
            ) from None
    if residual:
        names.append(f"{input_stem}_residual")
    paths = [Path(out_dir) / f"{n}{extension}" for n in names]
    if len(set(paths)) != len(paths):
        raise AudioSaveError(
            f"file-name template '{template}' gives the same name to several "
            "sources; include {index}"
        )
    return paths


def result_requests(
    input_stem: str, results: Sequence[tuple[str, int, str]]
) -> list[ExportRequest]:
    """The requests of several results ``(key, n_src, model)`` of one input: named by the input's
    stem when there is one result, ``<stem>_<key>`` each when there are several."""
    return [
        ExportRequest(key, input_stem if len(results) == 1 else f"{input_stem}_{key}", n_src, model)
        for key, n_src, model in results
    ]


def plan_one(
    request: ExportRequest,
    out_dir,
    *,
    template: str = DEFAULT_TEMPLATE,
    extension: str = ".wav",
    residual: bool = False,
    sidecar: bool = True,
    rttm: bool = False,
) -> ExportTarget:
    """The files ``request`` writes to ``out_dir`` (``~`` expanded)."""
    out_dir = Path(out_dir).expanduser()
    stems = stem_paths(
        out_dir,
        request.input_stem,
        request.n_src,
        template=template,
        extension=extension,
        residual=residual,
        model=request.model,
    )
    side = out_dir / f"{request.input_stem}.json" if sidecar else None
    turns = out_dir / f"{request.input_stem}.rttm" if rttm else None
    return ExportTarget(request.source, tuple(stems), side, turns)


def plan_exports(
    requests: Sequence[ExportRequest],
    out_dir,
    *,
    template: str = DEFAULT_TEMPLATE,
    extension: str = ".wav",
    residual: bool = False,
    sidecar: bool = True,
    rttm: bool = False,
    collision_hint: str = "",
) -> list[ExportTarget]:
    """Every file of every request, in order; two requests that would write the same file raise
    AudioSaveError naming both and the file (``collision_hint`` says what to do)."""
    targets = [
        plan_one(
            r,
            out_dir,
            template=template,
            extension=extension,
            residual=residual,
            sidecar=sidecar,
            rttm=rttm,
        )
        for r in requests
    ]
    refuse_collisions(targets, collision_hint)
    return targets


def refuse_collisions(targets: Sequence[ExportTarget], hint: str = "") -> None:
    owners: dict[str, ExportTarget] = {}
    for target in targets:
        for path in target.paths:
            owner = owners.setdefault(str(path).casefold(), target)
            if owner is not target:
                raise AudioSaveError(
                    f"{owner.source} and {target.source} would both write {path}"
                    + (f"; {hint}" if hint else "")
                )


def existing_outputs(targets: Sequence[ExportTarget]) -> list[Path]:
    """The planned files that already exist."""
    return [p for t in targets for p in t.paths if p.exists() or p.is_symlink()]


def refuse_existing(
    targets: Sequence[ExportTarget], overwrite: bool, hint: str = "not overwritten"
) -> None:
    """Raise AudioSaveError naming the first planned file that exists, unless ``overwrite``."""
    folders = [p for t in targets for p in t.paths if p.is_dir()]
    if folders:
        raise AudioSaveError(f"{folders[0]}: is a folder; cannot write a file there")
    if overwrite:
        return
    existing = existing_outputs(targets)
    if existing:
        more = f", and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise AudioSaveError(f"{existing[0]}: already exists ({hint}{more})")
