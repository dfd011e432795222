"""Constants and errors every judge module shares."""
from __future__ import annotations

JUDGE_VERSION = 1
CONDITIONS = ("clean", "blurred", "resampled")  # evaluation conditions of the held-out data
PIXEL_RANGE = (0.0, 1.0)


class JudgeError(ValueError):
    """A judge cannot be built, trained or used as asked (bad name, setting or input)."""


class JudgeTooWeak(RuntimeError):
    """A judge's held-out accuracy is below the required threshold."""

