"""The stitching's learnt speaker whitening, stored as ``resources/speaker_whitening.npy``."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from separation_core.engine import speaker_features
from separation_core.engine.speaker_features import FEATURE_DIM, learnt_whitening
from separation_core.errors import CocktailError

# sha256 of the float64 bytes of the 22 x 22 matrix as the generated Python module held it
# (separation_core/engine/speaker_whitening.py, before the numbers moved to resources/).
SHIPPED_SHA256 = "7ccf11386cd8e2f4e4431659f01ab730ff7ddf4abae076088de0f03a274e734e"


@pytest.fixture
def fresh_cache():
    learnt_whitening.cache_clear()
    yield
    learnt_whitening.cache_clear()


def test_the_shipped_numbers_are_the_ones_learnt(fresh_cache):
    w = learnt_whitening()
    assert w.dtype == np.float64 and w.shape == (22, 22) == (FEATURE_DIM, FEATURE_DIM)
    assert hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest() == SHIPPED_SHA256
    # lower triangular with a positive diagonal: the Cholesky factor of an inverse covariance
    assert np.array_equal(w, np.tril(w)) and np.all(np.diag(w) > 0)


def test_read_once_and_read_only(fresh_cache, monkeypatch):
    first = learnt_whitening()
    monkeypatch.setenv("COCKTAIL_RESOURCES", "/nonexistent")  # a second read would fail
    assert learnt_whitening() is first
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = 1.0


def test_a_missing_or_wrong_file_is_one_line_naming_it(fresh_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("COCKTAIL_RESOURCES", str(tmp_path))
    path = tmp_path / speaker_features.WHITENING_FILE
    with pytest.raises(CocktailError) as info:
        learnt_whitening()
    assert str(info.value) == (
        f"{path}: the speaker whitening cannot be read (No such file or directory)"
    )
    np.save(path, np.eye(3, dtype=np.float32))
    with pytest.raises(CocktailError) as info:
        learnt_whitening()
    assert str(info.value) == (
        f"{path}: the speaker whitening must be a square float64 matrix, got float32 (3, 3)"
    )
