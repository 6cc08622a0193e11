"""How good a separation is: the metric functions, their registry and ``evaluate_separation``,
quality over time (segmental), and the benchmark behind ``cocktail bench``."""
