"""Files in and out: reading audio (any format libsndfile reads) and saving it, the stems and
sidecars a run exports and their plan, sets of files, atomic writes, where Cocktail's files live.
Knows no model."""
