"""Widgets that draw a session: waveforms, spectrograms, lanes, masks, embeddings, metrics."""
