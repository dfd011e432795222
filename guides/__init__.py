"""Registry of guides per model: ``guide=<name>`` picks the guide of that name fitting the chosen model."""
from __future__ import annotations

from torch import nn

from inference.errors import ConfigError
from guides.deterministic_dynamics import GlobalDynamicsFactorisedGuide, GlobalDynamicsFullGuide
from guides.dsa import DSAFactorisedGuide, DSAFullGuide
from guides.frame_gaussian import FrameGaussianGuide, SequenceGaussianGuide
from guides.unordered import UnorderedFactorisedGuide, UnorderedFullGuide
from guides.vdsm import VDSMFactorisedGuide, VDSMFullGuide, VDSMPretrainGuide

GUIDES: list[type[nn.Module]] = [
    DSAFactorisedGuide, DSAFullGuide,
    FrameGaussianGuide, SequenceGaussianGuide,
    UnorderedFactorisedGuide, UnorderedFullGuide,
    GlobalDynamicsFactorisedGuide, GlobalDynamicsFullGuide,
    VDSMPretrainGuide, VDSMFactorisedGuide, VDSMFullGuide,
]


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
