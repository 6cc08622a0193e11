"""How long an adaptation may run: wall-clock seconds, or a number of training steps (the same
result twice on the same machine)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from separation_core.errors import CocktailError

MAX_SECONDS = 4 * 3600.0
MAX_STEPS = 100_000
DEFAULT_SECONDS = 180.0


@dataclass(frozen=True)
class Budget:
    """Exactly one of ``seconds`` (wall clock, validation included) and ``steps``."""

    seconds: Optional[float] = None
    steps: Optional[int] = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.steps is None):
            raise CocktailError("an adaptation budget is either seconds or steps, not both or none")
        if self.seconds is not None:
            value = self.seconds
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise CocktailError(
                    f"adaptation budget: expected a number of seconds, got {value!r}"
                )
            if not 0 < value <= MAX_SECONDS:
                raise CocktailError(
                    f"adaptation budget: {value:g} s is outside 0 (excluded) to {MAX_SECONDS:g} s"
                )
        else:
            value = self.steps
            if isinstance(value, bool) or not isinstance(value, int):
                raise CocktailError(f"adaptation budget: expected a number of steps, got {value!r}")
            if not 0 < value <= MAX_STEPS:
                raise CocktailError(
                    f"adaptation budget: {value} steps is outside 1 to {MAX_STEPS:,} steps"
                )

    def text(self) -> str:
        return f"{self.seconds:g} s" if self.seconds is not None else f"{self.steps} steps"

    def to_dict(self) -> dict:
        return {"seconds": self.seconds, "steps": self.steps}
