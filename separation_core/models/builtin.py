"""Imports every built-in model module so that each registers its names."""

from separation_core.models import (  # noqa: F401
    asteroid_port,  # ports that imported Asteroid checkpoints run on
    chimera_tcn,
    conv_tasnet,
    deep_clustering,
    denoise,
    dprnn,
    mask_nets,
    oracle,
    sudormrf,
)
