"""Cocktail's science package: audio I/O, transforms, models, losses, metrics, inference, training.

Never imports Qt, pyqtgraph or sounddevice; the desktop program in ``app`` drives it.
"""

__version__ = "0.1.0"
