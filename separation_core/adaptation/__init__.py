"""Adapting a separator to one recording: fine-tuning a copy of it on mixtures made from the
recording's own solo stretches (never its overlaps), then separating the overlaps with the copy.

A package of its own between commands and training: it uses the training objectives, the
checkpoint store and the conversation pipeline, and it is run-time work (``cocktail separate
--adapt``, a job in the desktop program), not a training run."""
