"""Registry of guides per model: ``guide=<name>`` picks the guide of that name fitting the chosen model."""
from __future__ import annotations

from torch import nn

from inference.errors import ConfigError
from inference.registry import discover, named, unique_by


def _is_guide(cls: type) -> bool:
    """A guide: an ``nn.Module`` with the ``name`` users type and the models it ``fits`` (ARCHITECTURE.md)."""
    return issubclass(cls, nn.Module) and named(cls) and bool(getattr(cls, "fits", None))


GUIDES: list[type[nn.Module]] = unique_by(discover(__name__, _is_guide), lambda cls: [(cls.name, model) for model in cls.fits],
                                          "guides")  # every guide class of this package's modules: a new guide is a new file


def valid_guides(model_name: str) -> list[str]:
    """Names of the guides that declare they fit ``model_name``."""
    return sorted(g.name for g in GUIDES if model_name in g.fits)


def guide_class(model_name: str, guide_name: str) -> type[nn.Module]:
    """The guide called ``guide_name`` that fits ``model_name``; a one-line error lists the valid ones."""
    for guide in GUIDES:
        if guide.name == guide_name and model_name in guide.fits:
            return guide
    raise ConfigError(
        f"guide '{guide_name}' does not fit model '{model_name}'; valid guides for {model_name}: "
        f"{', '.join(valid_guides(model_name)) or 'none'}"
    )


def build_guide(name: str, model: nn.Module, **hyperparameters) -> nn.Module:
    """Instantiate the guide ``name`` for ``model`` (the ``_target_`` of every ``conf/guide`` file)."""
    return guide_class(model.name, name)(model, **hyperparameters)
