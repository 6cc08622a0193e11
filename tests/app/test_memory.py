"""Issue 13, item 18: what a session holds for a 15 s mixture with four results stays within what
must be held: the waveforms in float32, the masks and embeddings (drawn only) in float16, no
per-chunk intermediates, no STFTs, no copies."""

import numpy as np

from app.jobs import frozen_array
from app.jobs.separation import MAX_EMBEDDING_POINTS, ModelDone, RunSettings, SeparationJob
from app.session import ResultRecord, Session
from conftest import SR, synthetic_sources
from separation_core.cancel import CancelToken

SECONDS = 15.0


class Ctx:
    cancel = CancelToken()

    def progress(self, fraction, stage):
        pass

    def publish(self, payload):
        pass


def held_arrays(obj, seen=None) -> dict:
    """Every numpy buffer reachable from ``obj`` (dataclasses, objects, dicts, sequences),
    each counted once, however many views share it: ``{id(buffer): nbytes}``."""
    seen = set() if seen is None else seen
    out = {}
    if id(obj) in seen or isinstance(obj, (str, bytes, int, float, type(None))):
        return out
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        out[id(base)] = base.nbytes
        return out
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, (list, tuple, set)):
        children = list(obj)
    elif hasattr(obj, "__dataclass_fields__"):
        children = [getattr(obj, f) for f in obj.__dataclass_fields__]
    elif hasattr(obj, "__dict__"):
        children = list(vars(obj).values())
    else:
        return out
    for child in children:
        out.update(held_arrays(child, seen))
    return out


def test_a_session_with_four_results_holds_what_it_must_and_no_more():
    sources = synthetic_sources(seconds=SECONDS)
    mixture = sources.sum(0)

    class Audio:
        samples, sample_rate = mixture, SR

    session = Session()
    session.set_mixture(Audio())
    session.set_references(sources)
    models = ("convtasnet-libri-16k", "chimera-tcn-rooms-16k", "dc-tcn-rooms-16k")
    outcomes = SeparationJob(frozen_array(mixture), SR, models, RunSettings()).run(Ctx())
    outcomes += SeparationJob(
        frozen_array(mixture), SR, ("oracle-irm",), RunSettings(), frozen_array(sources)
    ).run(Ctx())
    assert [type(o) for o in outcomes] == [ModelDone] * 4
    for o in outcomes:
        session.add_result(
            ResultRecord(o.entry.id, o.entry, o.result, o.settings.to_dict(), o.seconds)
        )

    # What must be held: the mixture and references, each result's waveforms (float32), masks
    # (n_src x freq x frames, float16) and the capped embedding points (float16 vectors, int32
    # (freq, frame) pairs, int16 labels).
    n_src, t = sources.shape
    must = mixture.nbytes + sources.nbytes
    for o in outcomes:
        r = o.result
        st = r.stft
        frames = t // st.hop + 1
        must += n_src * t * 4 + n_src * st.n_freq * frames * 2
        if r.embeddings is not None:
            dim = r.embeddings.shape[1]
            must += MAX_EMBEDDING_POINTS * (dim * 2 + 2 * 4 + 2)
    held = sum(held_arrays(session).values())
    assert held <= 1.02 * must + 65536, (held, must)
    # for scale: 24.3 MB here, two of the four results with embeddings
    assert must < 26e6
