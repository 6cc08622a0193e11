"""The input checks every family shares (``SeparationModel.check_batch`` / ``mono_input``): one-line
refusals naming the model and the shape, and a chunk moved to the parameters' dtype."""

from __future__ import annotations

import re

import pytest
import torch

from separation_core.errors import ModelError
from separation_core.models.registry import get_model_class


@pytest.mark.parametrize("name", ["convtasnet", "gtcrn", "denoise-wiener", "asteroid-dcunet"])
def test_a_chunk_that_is_not_mono_is_refused_in_one_line(name):
    model = get_model_class(name)()
    with pytest.raises(ModelError) as err:
        model.separate_chunk(torch.zeros(2, 4000))
    assert str(err.value) == f"{name} expects a mono mixture [time], got shape (2, 4000)"


@pytest.mark.parametrize("name", ["convtasnet", "gtcrn", "asteroid-dcunet", "dc-tcn"])
def test_a_forward_input_that_is_not_a_batch_is_refused_in_one_line(name):
    model = get_model_class(name)()
    with pytest.raises(ModelError, match=re.escape(f"{name} expects a batch of mixtures")):
        model(torch.zeros(4000))


def test_mono_input_takes_the_parameters_dtype_or_float32_without_parameters():
    chunk = torch.linspace(-1, 1, 800, dtype=torch.float64)
    model = get_model_class("gtcrn")()
    assert model.mono_input(chunk).dtype == torch.float32
    assert model.double().mono_input(chunk.float()).dtype == torch.float64
    classical = get_model_class("denoise-wiener")()
    moved = classical.mono_input(chunk)
    assert moved.dtype == torch.float32 and torch.allclose(moved.double(), chunk)
