"""Imports every built-in model module so that each registers its names."""

from separation_core.models import (  # noqa: F401
    asteroid_dcunet,
    asteroid_dptnet,
    asteroid_port,  # ports that imported Asteroid checkpoints run on
    asteroid_sudormrf,
    chimera_tcn,
    conv_tasnet,
    deep_clustering,
    denoise,
    dprnn,
    gtcrn,
    mask_nets,
    oracle,
    resepformer,  # ports that imported SpeechBrain folders run on
    sepformer,
    sudormrf,
    torchaudio_convtasnet,  # the port imported torchaudio state dicts run on
)
