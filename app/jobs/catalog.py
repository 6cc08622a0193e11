"""The model catalog: listing every available model, resolving one spec to its entry; with each
entry, the chunk length its model runs in unless told (what the run estimates start from)."""

from __future__ import annotations

from dataclasses import dataclass


def default_chunk_seconds(entry) -> float:
    """The chunk length ``entry``'s model runs in by default (``inference.model_chunk_seconds``);
    a model outside the registry (an ONNX graph) runs in the engine's default."""
    from separation_core.engine.inference import DEFAULT_CHUNK_SECONDS, model_chunk_seconds
    from separation_core.errors import ModelError
    from separation_core.models.registry import get_model_class

    try:
        return float(model_chunk_seconds(get_model_class(entry.model_name)))
    except ModelError:
        return DEFAULT_CHUNK_SECONDS


@dataclass(frozen=True)
class CatalogJob:
    """Every available model (bundled, user folder, registry) plus ``extra`` checkpoint paths:
    (entries, one line per file skipped, {id: default chunk seconds})."""

    extra: tuple = ()

    def run(self, ctx) -> tuple[list, list, dict]:
        from separation_core.checkpoints import catalog

        ctx.progress(0.0, "listing models")
        problems: list = []
        entries = catalog.list_models(problems)
        for path in self.extra:
            try:
                entries.append(catalog.entry_from_checkpoint(path, "path"))
            except Exception as e:  # a checkpoint that went away or broke since it was opened
                problems.append(str(e))
        return entries, problems, {e.id: default_chunk_seconds(e) for e in entries}


@dataclass(frozen=True)
class ResolveModelJob:
    """One spec -> (its entry, its default chunk seconds)."""

    spec: str

    def run(self, ctx) -> tuple:
        from separation_core.checkpoints import catalog

        entry = catalog.resolve(self.spec)
        return entry, default_chunk_seconds(entry)
