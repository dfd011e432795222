"""Annealing schedules: plain objects mapping a training step to a non-negative weight.

``Linear`` covers both the KL warm-up (0 -> 1) and VDSM's inverse ramps (e.g. 30 -> 1, high to low).
"""
from __future__ import annotations

from dataclasses import dataclass


def _check_non_negative(**values: float) -> None:
    for key, value in values.items():
        if value < 0:
            raise ValueError(f"annealing weight '{key}' must be >= 0 (got {value})")


@dataclass(frozen=True)
class Constant:
    """The same weight at every step."""

    value: float = 1.0

    def __post_init__(self) -> None:
        _check_non_negative(value=self.value)

    def __call__(self, step: int) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Linear:
    """``start`` until ``delay``, then linear to ``end`` over ``steps`` steps, then ``end``."""

    start: float = 0.0
    end: float = 1.0
    steps: int = 1000
    delay: int = 0

    def __post_init__(self) -> None:
        _check_non_negative(start=self.start, end=self.end)
        if self.steps < 1:
            raise ValueError(f"Linear schedule needs steps >= 1 (got {self.steps})")

    def __call__(self, step: int) -> float:
        progress = min(max((step - self.delay) / self.steps, 0.0), 1.0)
        return float(self.start + (self.end - self.start) * progress)


@dataclass(frozen=True)
class Cyclical:
    """Cyclical annealing: each ``period`` ramps ``low`` -> ``high`` over its first ``ramp_fraction``, then holds."""

    period: int = 1000
    ramp_fraction: float = 0.5
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        _check_non_negative(low=self.low, high=self.high)
        if self.period < 1 or not 0 < self.ramp_fraction <= 1:
            raise ValueError("Cyclical schedule needs period >= 1 and 0 < ramp_fraction <= 1")

    def __call__(self, step: int) -> float:
        phase = (step % self.period) / (self.period * self.ramp_fraction)
        return float(self.low + (self.high - self.low) * min(phase, 1.0))
