"""Extra objective terms a model declares (``loss_terms`` + ``terms``): sign, weights, logging and checks."""
import csv

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO
from torch import nn

from inference.anneal import Annealed, Annealer, SiteGroups, objective_groups
from inference.build import check_pair
from inference.errors import ConfigError
from inference.latents import elbo_terms
from inference.objective import ELBOWithTerms
from inference.schedules import Linear
from inference.trainer import Trainer
from models.dsa import DSA
from tests.conftest import FRAME, SEQ_LEN, MovingSquares, tiny_guide, tiny_model

pyro.enable_validation(True)


class ToyWithBonus(nn.Module):
    """z ~ N(0, 1), x ~ N(z, 1); term ``closeness`` = -(q's mean - x)^2 per sequence, read from the guide's trace."""

    name, latent_groups, loss_terms = "toy", {"static": "z"}, ("closeness",)
    latent_layout = {"static": "sequence"}

    def forward(self, x):
        with pyro.plate("sequences", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0]), 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def terms(self, guide, model_trace, guide_trace, x):
        return {"closeness": -(guide_trace.nodes["z"]["fn"].mean - x) ** 2}


class ToyGuide(nn.Module):
    name = "toy_guide"

    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.tensor(0.3))

    def forward(self, x):
        pyro.module("guide", self)
        with pyro.plate("sequences", x.shape[0]):
            pyro.sample("z", dist.Normal(self.loc.expand(x.shape[0]), 0.5))


def losses(weights, x, seed=0):
    """(ELBO-with-terms loss, plain TraceMeanField loss) of the toy with the same draws, and the closeness sum."""
    model, guide = ToyWithBonus(), ToyGuide()
    groups = SiteGroups.of(model)
    annealed = Annealed(model, groups), Annealed(guide, groups)
    pyro.set_rng_seed(seed)
    with_terms = ELBOWithTerms(model, guide, latent_count=1).loss(*annealed, x, torch.tensor(weights))
    pyro.set_rng_seed(seed)
    plain = TraceMeanField_ELBO().loss(*annealed, x, torch.tensor(weights))
    return with_terms, plain, float(-((0.3 - x) ** 2).sum())


@pytest.mark.parametrize("weight", [0.0, 0.5, 2.0])
def test_a_term_lowers_the_loss_by_its_weighted_sum(weight):
    x = torch.tensor([1.0, -2.0, 0.5])
    with_terms, plain, closeness = losses([1.0, weight], x)
    assert with_terms == pytest.approx(plain - weight * closeness, abs=1e-4)  # closeness < 0: a penalty raises the loss


def test_the_term_has_gradients_into_the_guide():
    model, guide, x = ToyWithBonus(), ToyGuide(), torch.tensor([2.0, 2.0])
    groups = SiteGroups.of(model)
    loss = ELBOWithTerms(model, guide, 1).differentiable_loss(Annealed(model, groups), Annealed(guide, groups), x, torch.tensor([0.0, 1.0]))
    loss.backward()
    assert guide.loc.grad < 0  # the closeness term pulls q's mean (0.3) up towards x = 2 (with the KL switched off)


def test_terms_are_logged_beside_the_paper_elbo():
    model, guide, x = ToyWithBonus(), ToyGuide(), torch.tensor([1.0, -1.0])
    terms = elbo_terms(model, guide, x, SiteGroups.of(model))
    assert terms["term_closeness"] == pytest.approx(-((0.3 - 1) ** 2 + (0.3 + 1) ** 2) / 2)
    assert terms["elbo"] == pytest.approx(terms["recon"] - terms["kl_static"])  # the paper's ELBO: no term in it
    assert terms["objective"] == pytest.approx(terms["elbo"] + terms["term_closeness"])


def test_a_model_without_terms_logs_no_objective():
    model = tiny_model()
    terms = elbo_terms(model, tiny_guide(model), torch.rand(2, SEQ_LEN, *FRAME), SiteGroups.of(model))
    assert not any(k.startswith("term_") for k in terms) and "objective" not in terms


@pytest.mark.parametrize("returned,message", [
    (lambda x: {}, r"declares loss terms \['closeness'\] but its terms\(\) returned \[\]"),
    (lambda x: {"closeness": x.sum()}, r"loss term 'closeness' of model 'toy' must be one value per sequence, shape \(2,\); got \(\)"),
])
def test_terms_that_break_the_declaration_are_one_line_at_start_up(returned, message):
    model = ToyWithBonus()
    model.terms = lambda guide, model_trace, guide_trace, x: returned(x)
    with pytest.raises(ConfigError, match=message):
        check_pair(model, ToyGuide(), torch.randn(2))


class DSAWithBrightness(DSA):
    """The tiny DSA with a term rewarding bright reconstructions of q's means (any differentiable term would do)."""

    loss_terms = ("brightness",)

    def terms(self, guide, model_trace, guide_trace, x):
        return {"brightness": model_trace.nodes["x"]["fn"].mean.flatten(1).mean(-1)}


def brightness_model():
    return DSAWithBrightness(frame_shape=FRAME, seq_len=SEQ_LEN, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4)


def test_the_trainer_weights_and_logs_a_declared_term(tmp_path):
    pyro.set_rng_seed(0)
    model = brightness_model()
    annealer = Annealer(objective_groups(model), {"brightness": Linear(0.0, 1.0, steps=4)})
    trainer = Trainer(model, tiny_guide(model), MovingSquares(), pyro.optim.Adam({"lr": 1e-2}), annealer, tmp_path, max_steps=4,
                      batch_size=4, log_every=1, progress=False)
    trainer.fit()
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [float(r["weight_brightness"]) for r in rows] == [0.25, 0.5, 0.75, 1.0]
    assert all(0 < float(r["term_brightness"]) < 1 for r in rows)  # a mean pixel of [0, 1] frames


def test_an_annealer_without_the_term_is_refused(tmp_path):
    model = brightness_model()
    with pytest.raises(ConfigError, match=r"annealer's groups \['static', 'dynamics'\] are not the model's \['static', 'dynamics', 'brightness'\]"):
        Trainer(model, tiny_guide(model), MovingSquares(), pyro.optim.Adam({"lr": 1e-2}), Annealer(["static", "dynamics"], {}), tmp_path,
                max_steps=1, batch_size=4, progress=False)


def test_jit_with_terms_and_a_term_named_like_a_latent_group_are_refused(tmp_path):
    model = brightness_model()
    with pytest.raises(ConfigError, match=r"trainer.jit=true traces the ELBO only; model 'dsa' has loss terms \['brightness'\]"):
        Trainer(model, tiny_guide(model), MovingSquares(), pyro.optim.Adam({"lr": 1e-2}), Annealer(objective_groups(model), {}), tmp_path,
                max_steps=1, batch_size=4, progress=False, jit=True)
    clashing = tiny_model()
    clashing.loss_terms = ("static",)
    with pytest.raises(ConfigError, match=r"names \['static'\] both a latent group and a loss term"):
        Trainer(clashing, tiny_guide(clashing), MovingSquares(), pyro.optim.Adam({"lr": 1e-2}), Annealer(["static", "dynamics"], {}),
                tmp_path, max_steps=1, batch_size=4, progress=False)
