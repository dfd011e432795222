"""Registry of generative models: ``model=<name>`` on the command line picks one."""
from __future__ import annotations

from torch import nn

from inference.errors import ConfigError
from models.deterministic_dynamics import LSTMC, LSTMF
from models.dsa import DSA
from models.hierarchical_vae import FrameVAE, HierarchicalVAE, SlowFeatureVAE
from models.unordered import UnorderedModel
from models.vdsm import VDSM, VDSMPretrain

MODELS: dict[str, type[nn.Module]] = {
    cls.name: cls for cls in (DSA, LSTMF, LSTMC, HierarchicalVAE, FrameVAE, SlowFeatureVAE, UnorderedModel, VDSMPretrain, VDSM)
}


def model_class(name: str) -> type[nn.Module]:
    """The model class registered under ``name``; a one-line error lists the valid names."""
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}'; valid models: {', '.join(sorted(MODELS))}")
    return MODELS[name]
