"""Converters from other toolkits' model files to Cocktail checkpoints (in memory, plain dicts)."""
