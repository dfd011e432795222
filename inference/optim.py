"""Per-module learning rates: Pyro's per-parameter ``optim_args`` callable, configured as prefixes of parameter names."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from inference.errors import ConfigError


class ScaledLearningRates:
    """``optim_args`` for each parameter: the shared settings, with ``lr`` multiplied by the factor of the longest
    prefix of ``optim.lr_scale`` that the parameter's name (``model.decoder.0.weight``, ``guide.static.rnn...``) has."""

    def __init__(self, base: Mapping[str, Any], scales: Mapping[str, float]) -> None:
        self.base, self.scales = dict(base), dict(scales)

    def factor(self, name: str) -> float:
        """The factor of the longest prefix that names ``name`` or one of its parent modules (1.0 for none)."""
        matches = [prefix for prefix in self.scales if name == prefix or name.startswith(prefix + ".")]
        return self.scales[max(matches, key=len)] if matches else 1.0

    def __call__(self, param_name: str) -> dict[str, Any]:
        return {**self.base, "lr": self.base["lr"] * self.factor(param_name)}


def check_lr_scale(scales: Any, parameter_names: Iterable[str]) -> dict[str, float]:
    """``optim.lr_scale`` as {prefix: factor}, refused in one line if a factor is not positive or a prefix names no
    parameter of the model or guide (a typo would otherwise leave every learning rate unchanged)."""
    if not isinstance(scales, Mapping):
        raise ConfigError(f"optim.lr_scale must map module prefixes to factors, e.g. {{guide.static: 0.1}}, got {scales!r}")
    names = list(parameter_names)
    for prefix, factor in scales.items():
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise ConfigError(f"optim.lr_scale.{prefix} must be a positive number, got {factor!r}")
        if not any(name == prefix or name.startswith(f"{prefix}.") for name in names):
            modules = sorted({".".join(name.split(".")[:2]) for name in names})
            raise ConfigError(f"optim.lr_scale.{prefix} names no parameter; modules are {', '.join(modules)}")
    return {str(prefix): float(factor) for prefix, factor in scales.items()}
