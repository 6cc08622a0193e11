"""Oracle masks: the separation ceiling computed from the reference sources.

Each model computes its mask from the references' STFTs (and the mixture's, for the PSM), applies
it to the MIXTURE's STFT and inverts it. No parameters, nothing to train.
"""

from __future__ import annotations

from typing import Optional

import torch

from separation_core.errors import ModelError
from separation_core.models import masks as M
from separation_core.models.base import KIND_ORACLE, RunOptions, SeparationModel
from separation_core.models.features import stft_params_for
from separation_core.models.registry import register
from separation_core.models.result import MASK_ORACLE, ChunkOutput
from separation_core.models.transforms import StftParams, istft, stft


class OracleModel(SeparationModel):
    """Base of the oracle models: ``_masks(sources [n_src,F,T], mixture [F,T]) -> [n_src,F,T]``.

    ``n_src`` is only a default for display: the models separate into as many sources as
    references are given.
    """

    kind = KIND_ORACLE
    mask_kind = MASK_ORACLE
    needs_references = True
    trainable = False

    def __init__(self, sample_rate: int = 16000, n_src: int = 2) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self._stft = stft_params_for(self.sample_rate)  # 32 ms / 8 ms, as the mask models

    @property
    def stft_params(self) -> StftParams:
        return self._stft

    def forward(self, mixture: torch.Tensor, references: Optional[torch.Tensor] = None) -> dict:
        """``mixture [B, time]``, ``references [B, n_src, time]`` ->
        ``{"waveforms": [B, n_src, time], "masks": [B, n_src, F, frames]}``."""
        if references is None:
            raise ModelError(f"{self.name} needs the reference sources (one per speaker)")
        outs = [self.separate_chunk(x, references=r) for x, r in zip(mixture, references)]
        return {
            "waveforms": torch.stack([o.waveforms for o in outs]),
            "masks": torch.stack([o.masks for o in outs]),
        }

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        if references is None:
            raise ModelError(
                f"{self.name} needs the reference sources: load one file per speaker "
                "beside the mixture"
            )
        x = self.mono_input(mixture)
        if references.dim() != 2 or references.shape[-1] != mixture.shape[-1]:
            raise ModelError(
                f"{self.name} expects references [n_src, {mixture.shape[-1]}], got "
                f"shape {tuple(references.shape)}"
            )
        with torch.no_grad():
            refs = references.to(device=x.device, dtype=x.dtype)
            mix_spec = stft(x, self._stft)  # [F, T]
            src_spec = stft(refs, self._stft)  # [n_src, F, T]
            masks = self._masks(src_spec, mix_spec)
            waves = istft(M.apply_masks(masks, mix_spec), self._stft, x.shape[-1])
        return ChunkOutput(waveforms=waves, masks=masks)

    def _masks(self, sources: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@register("oracle-ibm")
class OracleIBM(OracleModel):
    description = "Ideal binary mask: each bin goes to the loudest reference source (oracle)."

    def _masks(self, sources, mixture):
        return M.ideal_binary_mask(sources)


@register("oracle-irm")
class OracleIRM(OracleModel):
    description = "Ideal ratio mask |S_k| / sum |S_j| from the references (oracle)."

    def _masks(self, sources, mixture):
        return M.ideal_ratio_mask(sources)


@register("oracle-wiener")
class OracleWiener(OracleModel):
    description = "Wiener-like mask |S_k|^2 / sum |S_j|^2 from the references (oracle)."

    def _masks(self, sources, mixture):
        return M.wiener_like_mask(sources)


@register("oracle-psm")
class OraclePSM(OracleModel):
    description = (
        "Phase-sensitive mask |S_k| cos(theta_S - theta_Y) / |Y|, truncated to [0, 1] (oracle)."
    )

    def _masks(self, sources, mixture):
        return M.phase_sensitive_mask(sources, mixture)
