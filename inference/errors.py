"""Errors that mean "the user asked for something wrong": reported as one line, never a deep traceback."""


class ConfigError(ValueError):
    """An invalid or incompatible configuration (unknown model, guide that does not fit, bad sizes)."""


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN/Inf loss; the last good checkpoint was kept."""


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read (truncated, foreign or from an incompatible version)."""
