"""Issue 31: metrics with N references and M stems (Hungarian pairing, a person without a stem, a
stem left over) and the diarization error rate against the true turns."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import soundfile as sf

from helpers import si_sdr_reference, voice
from separation_core.cli import main
from separation_core.evaluation import metrics as M
from separation_core.evaluation.conversation_scores import (
    score_conversation,
    summarize_conversations,
)
from separation_core.evaluation.diarization import diarization_error_rate
from separation_core.evaluation.scoring import evaluate_separation
from separation_core.io.rttm import Turn, write_rttm

SR = 8000


@pytest.fixture(scope="module")
def people() -> np.ndarray:
    """Three zero-mean voices ``[3, T]`` of 2 s with distinct pitch."""
    v = np.stack(
        [voice(f0, 2.0, SR, seed=k, syllable_hz=3.0 + k) for k, f0 in enumerate((110, 180, 260))]
    ).astype(np.float64)
    return v - v.mean(axis=1, keepdims=True)


def noisy(x: np.ndarray, level: float, seed: int) -> np.ndarray:
    return x + level * np.random.default_rng(seed).standard_normal(x.shape)


def si_sdri_by_hand(est, ref, mixture) -> float:
    est, mixture = est - est.mean(), mixture - mixture.mean()
    return si_sdr_reference(est, ref) - si_sdr_reference(mixture, ref)


@pytest.mark.parametrize("n_ref, n_est", list(itertools.product(range(1, 6), range(1, 6))))
def test_hungarian_matches_brute_force(n_ref, n_est):
    rng = np.random.default_rng(100 * n_ref + n_est)
    for _ in range(4):
        scores = rng.normal(5.0, 10.0, size=(n_ref, n_est))
        perm = M.solve_permutation(scores)
        k = min(n_ref, n_est)
        assert np.sum(perm >= 0) == k and len(set(perm[perm >= 0].tolist())) == k
        if n_ref <= n_est:  # every reference gets one of the estimates
            best = max(
                itertools.permutations(range(n_est), n_ref),
                key=lambda cols: scores[np.arange(n_ref), list(cols)].sum(),
            )
            expected = list(best)
        else:  # every estimate goes to one of the references
            best = max(
                itertools.permutations(range(n_ref), n_est),
                key=lambda rows: scores[list(rows), np.arange(n_est)].sum(),
            )
            expected = [-1] * n_ref
            for col, row in enumerate(best):
                expected[row] = col
        assert perm.tolist() == expected


def test_three_people_two_stems_the_missing_person_scores_zero_improvement(people):
    mixture = people.sum(axis=0)
    stems = np.stack([noisy(people[2], 0.02, 1), noisy(people[0], 0.02, 2)])
    ev = evaluate_separation(stems, people, mixture, SR, metrics=("si_sdr", "si_sdri"))
    assert ev.permutation.tolist() == [1, -1, 0] and ev.unmatched == [1]
    assert ev.per_source[1]["si_sdri"] == 0.0 and np.isnan(ev.per_source[1]["si_sdr"])
    found = [
        si_sdri_by_hand(stems[1], people[0], mixture),
        si_sdri_by_hand(stems[0], people[2], mixture),
    ]
    assert ev.per_source[0]["si_sdri"] == pytest.approx(found[0], abs=1e-6)
    assert ev.per_source[2]["si_sdri"] == pytest.approx(found[1], abs=1e-6)
    # the missing person pulls the mean improvement down by a third of the found ones'
    assert ev.mean["si_sdri"] == pytest.approx(sum(found) / 3, abs=1e-6)
    assert ev.extra_stems == ()


def test_two_people_three_stems_the_extra_stem_is_reported(people):
    refs = people[:2]
    mixture = refs.sum(axis=0)
    residue = 0.01 * np.random.default_rng(3).standard_normal(mixture.shape)
    stems = np.stack([noisy(refs[1], 0.02, 4), residue, noisy(refs[0], 0.02, 5)])
    ev = evaluate_separation(stems, refs, mixture, SR, metrics=("si_sdri",))
    assert ev.permutation.tolist() == [2, 0] and ev.unmatched == []
    level = 10 * np.log10(np.sum(residue**2) / np.sum(mixture**2))
    assert [e.index for e in ev.extra_stems] == [1]
    assert ev.extra_stems[0].level_db == pytest.approx(level, abs=1e-9)
    # the stems that found a person are scored as if the extra one were not there
    two = evaluate_separation(stems[[2, 0]], refs, mixture, SR, metrics=("si_sdri",))
    assert ev.per_source == two.per_source and ev.mean == two.mean
    assert ev.per_source[0]["si_sdri"] == pytest.approx(
        si_sdri_by_hand(stems[2], refs[0], mixture), abs=1e-6
    )


def test_equal_counts_score_each_pair_as_before(people):
    mixture = people.sum(axis=0)
    stems = np.stack([noisy(people[k], 0.05 * (k + 1), 10 + k) for k in (1, 2, 0)])
    names = ("snr", "si_sdr", "si_sdri", "sdr", "sdri", "stoi")
    ev = evaluate_separation(stems, people, mixture, SR, metrics=names)
    assert ev.permutation.tolist() == [2, 0, 1] and ev.unmatched == [] and ev.extra_stems == ()
    for i, j in enumerate(ev.permutation):
        est, ref = stems[j], people[i]
        mix = np.broadcast_to(mixture, ref.shape)
        expected = {
            "snr": float(M.snr(est, ref)),
            "si_sdr": float(M.si_sdr(est, ref)),
            "si_sdri": float(M.si_sdri(est, ref, mixture)),
            "sdr": float(M.sdr(est, ref)),
            "sdri": float(M.sdr(est, ref)) - float(M.sdr(mix, ref)),
            "stoi": M.stoi_score(est, ref, SR),
        }
        assert ev.per_source[i] == expected  # exactly: the same numbers as pair-by-pair scoring
    assert ev.mean == {m: float(np.mean([d[m] for d in ev.per_source])) for m in names}


def test_a_given_permutation_with_a_gap_scores_improvements_zero(people):
    mixture = people.sum(axis=0)
    ev = evaluate_separation(
        people[:2], people, mixture, SR, metrics=("sdri", "snr"), permutation=[1, -1, 0]
    )
    assert ev.unmatched == [1] and ev.per_source[1]["sdri"] == 0.0
    assert np.isnan(ev.per_source[1]["snr"]) and ev.extra_stems == ()


# -- diarization error rate ------------------------------------------------------------------------

# Ten seconds of reference speech: person 0 talks 0-4, person 1 talks 4-10.
REFERENCE = [Turn(0, 0.0, 4.0), Turn(1, 4.0, 10.0)]
# Labels 5 and 7 (mapped to 0 and 1): 6-7 is missed, 8-9 is given to the wrong person.
HYPOTHESIS = [
    Turn(5, 0.0, 4.0),
    Turn(7, 4.0, 6.0),
    Turn(7, 7.0, 8.0),
    Turn(5, 8.0, 9.0),
    Turn(7, 9.0, 10.0),
]


def test_der_one_missed_and_one_confused_second_in_ten():
    assert diarization_error_rate(REFERENCE, HYPOTHESIS, collar=0.0) == pytest.approx(
        dict(der=0.2, missed=1.0, false_alarm=0.0, confusion=1.0, total=10.0)
    )
    # 0.25 s either side of the reference boundaries at 0, 4 and 10 s (1 s) is not scored; both
    # errors lie away from them.
    assert diarization_error_rate(REFERENCE, HYPOTHESIS) == pytest.approx(
        dict(der=2.0 / 9.0, missed=1.0, false_alarm=0.0, confusion=1.0, total=9.0)
    )


def test_der_collar_is_taken_either_side_of_each_reference_boundary():
    reference = [Turn(0, 0.0, 5.0), Turn(1, 5.0, 10.0)]
    # 4-5 missed, 9-10 confused, 10-11 a false alarm: each ends or starts on a reference boundary
    hypothesis = [Turn(0, 0.0, 4.0), Turn(1, 5.0, 9.0), Turn(0, 9.0, 11.0)]
    bare = diarization_error_rate(reference, hypothesis, collar=0.0)
    assert bare == pytest.approx(
        dict(der=0.3, missed=1.0, false_alarm=1.0, confusion=1.0, total=10.0)
    )
    # collars 0-0.25, 4.75-5.25, 9.75-10.25: a quarter second off each error, one off the speech
    collared = diarization_error_rate(reference, hypothesis, collar=0.25)
    assert collared == pytest.approx(
        dict(der=2.25 / 9.0, missed=0.75, false_alarm=0.75, confusion=0.75, total=9.0)
    )


def test_der_of_identical_or_relabelled_turns_is_zero():
    turns = [Turn(0, 0.0, 3.0), Turn(1, 2.5, 6.0), Turn(2, 5.0, 9.0), Turn(0, 8.0, 12.0)]
    relabel = {0: 2, 1: 0, 2: 1}
    relabelled = [Turn(relabel[t.speaker], t.start, t.end) for t in turns]
    for collar in (0.0, 0.25):
        for hypothesis in (turns, relabelled):
            parts = diarization_error_rate(turns, hypothesis, collar=collar)
            assert parts["der"] == 0.0 and parts["total"] > 0
    # overlap counts once per person talking: 12 s of turns, 0.5 + 1 s of it overlapped
    assert diarization_error_rate(turns, turns, collar=0.0)["total"] == pytest.approx(14.5)


def test_der_of_no_hypothesis_is_all_missed():
    parts = diarization_error_rate(REFERENCE, [], collar=0.0)
    assert parts == pytest.approx(
        dict(der=1.0, missed=10.0, false_alarm=0.0, confusion=0.0, total=10.0)
    )


# -- a set of conversations ------------------------------------------------------------------------


def test_set_report_pools_people_stem_counts_and_der(people):
    mixture = people.sum(axis=0)
    all_found = score_conversation(
        np.stack([noisy(p, 0.02, 20 + k) for k, p in enumerate(people)]),
        people,
        mixture,
        SR,
        REFERENCE,
        REFERENCE,
    )
    one_missing = score_conversation(
        np.stack([noisy(people[0], 0.02, 30), noisy(people[1], 0.02, 31)]),
        people,
        mixture,
        SR,
        REFERENCE,
        HYPOTHESIS,
        collar=0.0,
    )
    assert all_found.right_count and not one_missing.right_count
    assert one_missing.si_sdri[2] == 0.0 and one_missing.n_stems == 2
    report = summarize_conversations([all_found, one_missing])
    assert (report.recordings, report.people, report.right_count_share) == (2, 6, 0.5)
    assert report.si_sdri == pytest.approx(np.mean(all_found.si_sdri + one_missing.si_sdri))
    # errors over reference speech of both: (0 + 2) / (9 + 10), not the mean of 0 and 0.2
    assert report.der == pytest.approx(2.0 / 19.0)
    assert summarize_conversations([score_conversation(people, people, mixture, SR)]).der is None
    with pytest.raises(ValueError, match="both"):
        score_conversation(people, people, mixture, SR, reference_turns=REFERENCE)


def test_a_silent_extra_stem_has_a_finite_level(people):
    mixture = people.sum(axis=0)
    stems = np.stack([people[0], np.zeros_like(mixture)])
    ev = evaluate_separation(stems, people[:1], mixture, SR, metrics=("si_sdr",))
    [extra] = ev.extra_stems
    assert extra.index == 1 and np.isfinite(extra.level_db) and extra.level_db < -100


# -- cocktail evaluate --rttm-ref --rttm ------------------------------------------------------------


def test_evaluate_prints_the_der_of_two_rttm_files(people, tmp_path, capsys):
    # 12 s of audio, so the hypothesis' last turn (to 11 s) is not cut at the file's end
    voices = np.zeros((2, int(12.0 * SR)))
    voices[:, : people.shape[1]] = people[:2]
    paths = [tmp_path / f"{name}.wav" for name in ("mix", "ref", "est")]
    for path, x in zip(paths, (voices.sum(axis=0), voices[0], voices[0])):
        sf.write(path, x, SR, subtype="FLOAT")
    ref = write_rttm(tmp_path / "ref.rttm", [Turn(0, 0.0, 5.0), Turn(1, 5.0, 10.0)], "mix")
    hyp = write_rttm(
        tmp_path / "hyp.rttm", [Turn(0, 0.0, 4.0), Turn(1, 5.0, 9.0), Turn(0, 9.0, 11.0)], "mix"
    )
    args = ["evaluate", "--mixture", str(paths[0]), "--refs", str(paths[1])]
    args += ["--estimates", str(paths[2]), "--metrics", "si_sdr"]
    assert main([*args, "--rttm-ref", str(ref), "--rttm", str(hyp), "--json"]) == 0
    der = json.loads(capsys.readouterr().out)["diarization"]
    # the example of test_der_collar_is_taken_either_side_of_each_reference_boundary
    expected = dict(der=2.25 / 9.0, missed=0.75, false_alarm=0.75, confusion=0.75, total=9.0)
    assert der == pytest.approx(expected)
    assert main([*args, "--rttm-ref", str(ref), "--rttm", str(hyp)]) == 0
    assert (
        "DER 25.00% (0.25 s collar): missed 0.75 s, false alarm 0.75 s, confusion 0.75 s "
        "of 9.00 s of speech"
    ) in capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["diarization"] is None
    assert main([*args, "--rttm", str(hyp)]) == 2
    assert "--rttm-ref and --rttm go together" in capsys.readouterr().err
