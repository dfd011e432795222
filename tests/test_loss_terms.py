"""Extra objective terms a model declares (``loss_terms``): sign, annealing, logging, and where they may live."""
import csv

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO
from torch import nn

from inference.anneal import Annealed, Annealer, objective_groups
from inference.build import check_pair
from inference.errors import ConfigError
from inference.latents import elbo_terms
from inference.schedules import Constant, Linear
from inference.trainer import Trainer
from models.dsa import DSA
from tests.conftest import FRAME, SEQ_LEN, MovingSquares, tiny_guide, tiny_model

pyro.enable_validation(True)
BONUS = 2.5  # the term's value per sequence


class ToyWithBonus(nn.Module):
    """z ~ N(0, 1), x ~ N(z, 1), and a model-side factor worth BONUS per sequence (loss group ``bonus``)."""

    name = "toy"
    latent_groups = {"static": "z"}
    loss_terms = {"bonus": "bonus"}

    def forward(self, x):
        with pyro.plate("sequences", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0]), 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)
            pyro.factor("bonus", torch.full((x.shape[0],), BONUS))


class ToyGuide(nn.Module):
    name = "toy_guide"

    def __init__(self, factor_here: bool = False):
        super().__init__()
        self.loc, self.factor_here = nn.Parameter(torch.tensor(0.3)), factor_here

    def forward(self, x):
        pyro.module("guide", self)
        with pyro.plate("sequences", x.shape[0]):
            pyro.sample("z", dist.Normal(self.loc.expand(x.shape[0]), 0.5))
            if self.factor_here:
                pyro.factor("bonus", torch.full((x.shape[0],), BONUS))


def annealed_loss(model, guide, x, weights, seed=0):
    groups = objective_groups(model)
    pyro.set_rng_seed(seed)
    with torch.no_grad():
        return TraceMeanField_ELBO().loss(Annealed(model, groups), Annealed(guide, groups), x, torch.tensor(weights))


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_a_model_factor_lowers_the_loss_by_its_weighted_value(weight):
    model, guide, x = ToyWithBonus(), ToyGuide(), torch.randn(3)
    without = annealed_loss(model, guide, x, [1.0, 0.0])
    assert annealed_loss(model, guide, x, [1.0, weight]) == pytest.approx(without - weight * BONUS * 3, abs=1e-4)


def test_the_term_weight_does_not_touch_the_data_or_the_kl():
    model, guide, x = ToyWithBonus(), ToyGuide(), torch.randn(3)
    full, kl_halved = annealed_loss(model, guide, x, [1.0, 1.0]), annealed_loss(model, guide, x, [0.5, 1.0])
    terms = elbo_terms(model, guide, x, objective_groups(model))
    assert full - kl_halved == pytest.approx(0.5 * terms["kl_static"] * 3, rel=1e-4)


def test_terms_are_logged_apart_from_the_reconstruction():
    model, guide, x = ToyWithBonus(), ToyGuide(), torch.randn(4)
    terms = elbo_terms(model, guide, x, objective_groups(model))
    assert terms["term_bonus"] == pytest.approx(BONUS)
    assert terms["elbo"] == pytest.approx(terms["recon"] - terms["kl_static"])  # the paper's ELBO: no term in it
    assert terms["objective"] == pytest.approx(terms["elbo"] + BONUS)
    assert terms["recon"] < 0  # a Gaussian log-likelihood of 4 points; BONUS added would make it larger


def test_a_model_without_terms_logs_no_objective():
    model = tiny_model()
    terms = elbo_terms(model, tiny_guide(model), torch.rand(2, SEQ_LEN, *FRAME), objective_groups(model))
    assert not any(k.startswith("term_") for k in terms) and "objective" not in terms


def test_a_factor_in_the_guide_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"guide 'toy_guide' has loss-term sites \['bonus'\].*put pyro.factor terms in the model"):
        check_pair(ToyWithBonus(), ToyGuide(factor_here=True), torch.randn(2))


def test_a_term_that_claims_a_latent_site_is_refused():
    model = ToyWithBonus()
    model.loss_terms = {"bonus": "z|bonus"}
    with pytest.raises(ConfigError, match=r"claim latent sites \['z'\]"):
        check_pair(model, ToyGuide(), torch.randn(2))


class DSAWithBonus(DSA):
    """The tiny DSA with a loss term that rewards bright decoded frames (any differentiable term would do)."""

    loss_terms = {"brightness": "brightness"}

    def forward(self, x=None, batch_size=None, seq_len=None):
        mean = super().forward(x, batch_size, seq_len)
        with pyro.plate("bonus_sequences", mean.shape[0]):
            pyro.factor("brightness", mean.flatten(1).mean(-1))
        return mean


def test_the_trainer_anneals_and_logs_a_declared_term(tmp_path):
    pyro.set_rng_seed(0)
    model = DSAWithBonus(frame_shape=FRAME, seq_len=SEQ_LEN, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4)
    annealer = Annealer(objective_groups(model).names, {"brightness": Linear(0.0, 1.0, steps=4)})
    trainer = Trainer(model, tiny_guide(model), MovingSquares(), pyro.optim.Adam({"lr": 1e-2}), annealer, tmp_path, max_steps=4,
                      batch_size=4, log_every=1, progress=False)
    trainer.fit()
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [float(r["weight_brightness"]) for r in rows] == [0.25, 0.5, 0.75, 1.0]
    assert all(0 < float(r["term_brightness"]) < 1 for r in rows)  # a mean pixel of [0, 1] frames


def test_an_annealer_without_the_term_group_is_refused(tmp_path):
    model = DSAWithBonus(frame_shape=FRAME, seq_len=SEQ_LEN, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4)
    with pytest.raises(ConfigError, match=r"annealer's groups \['static', 'dynamics'\] are not the model's \['static', 'dynamics', 'brightness'\]"):
        Trainer(model, tiny_guide(model), MovingSquares(), pyro.optim.Adam({"lr": 1e-2}), Annealer(["static", "dynamics"], {}), tmp_path,
                max_steps=1, batch_size=4, progress=False)


def test_a_term_named_like_a_latent_group_is_refused(tmp_path):
    model = tiny_model()
    model.loss_terms = {"static": "bonus"}
    with pytest.raises(ConfigError, match=r"names \['static'\] both a latent group and a loss term"):
        Trainer(model, tiny_guide(model), MovingSquares(), pyro.optim.Adam({"lr": 1e-2}), Annealer(["static", "dynamics"], {}), tmp_path,
                max_steps=1, batch_size=4, progress=False)
