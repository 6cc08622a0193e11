"""Imports every built-in model module so that each registers its names."""

from . import conv_tasnet, deep_clustering, denoise, dprnn, mask_nets, oracle  # noqa: F401
