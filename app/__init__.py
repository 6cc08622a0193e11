"""Cocktail's desktop program (PySide6 + pyqtgraph + sounddevice); it drives ``separation_core``.

Importing this package imports nothing from Qt: ``app.main.main(argv)`` starts the GUI.
"""
