"""Speech corpora for training and evaluation: speaker ids from file names, the speaker-disjoint
split, seeded mixture sets on disk, and dynamic mixing (torch datasets, imported lazily so that
``cocktail mix`` does not load torch)."""

from separation_core.data.mixing import (
    MixtureItem,
    build_mixture_set,
    load_mixture_set,
    read_metadata,
)
from separation_core.data.mixture_recipe import MODES
from separation_core.data.speakers import (
    AUDIO_EXTENSIONS,
    RULES,
    find_audio,
    identify,
    scan_speech,
    speaker_of,
)
from separation_core.data.splits import (
    DEFAULT_FRACTIONS,
    SPLITS,
    assign_splits,
    corpus_splits,
    hash_split,
    select_split,
    speaker_hash,
    split_speakers,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_FRACTIONS",
    "MODES",
    "RULES",
    "SPLITS",
    "DynamicMixDataset",
    "MixtureItem",
    "MixtureSetDataset",
    "assign_splits",
    "build_mixture_set",
    "corpus_splits",
    "find_audio",
    "hash_split",
    "identify",
    "load_mixture_set",
    "read_metadata",
    "scan_speech",
    "select_split",
    "speaker_hash",
    "speaker_of",
    "split_speakers",
]


def __getattr__(name: str):
    if name in ("DynamicMixDataset", "MixtureSetDataset"):
        from separation_core.data import dynamic

        return getattr(dynamic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
