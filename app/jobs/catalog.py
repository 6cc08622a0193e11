"""The model catalog: listing every available model, resolving one spec to its entry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogJob:
    """Every available model (bundled, user folder, registry) plus ``extra`` checkpoint paths."""

    extra: tuple = ()

    def run(self, ctx) -> tuple[list, list]:
        from separation_core.checkpoints import catalog

        ctx.progress(0.0, "listing models")
        problems: list = []
        entries = catalog.list_models(problems)
        for path in self.extra:
            try:
                entries.append(catalog.entry_from_checkpoint(path, "path"))
            except Exception as e:  # a checkpoint that went away or broke since it was opened
                problems.append(str(e))
        return entries, problems


@dataclass(frozen=True)
class ResolveModelJob:
    spec: str

    def run(self, ctx):
        from separation_core.checkpoints import catalog

        return catalog.resolve(self.spec)
