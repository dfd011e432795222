"""Registry of generative models: ``model=<name>`` on the command line picks one."""
from __future__ import annotations

from torch import nn

from inference.errors import ConfigError
from inference.registry import discover, named, unique_by


def _is_model(cls: type) -> bool:
    """A generative model: an ``nn.Module`` with a registry ``name`` and its ``latent_groups`` (ARCHITECTURE.md)."""
    return issubclass(cls, nn.Module) and named(cls) and bool(getattr(cls, "latent_groups", None))


MODELS: dict[str, type[nn.Module]] = {
    cls.name: cls for cls in unique_by(discover(__name__, _is_model), lambda cls: [cls.name], "models")
}  # every model class of this package's modules: a new model is a new file


def model_class(name: str) -> type[nn.Module]:
    """The model class registered under ``name``; a one-line error lists the valid names."""
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}'; valid models: {', '.join(sorted(MODELS))}")
    return MODELS[name]
