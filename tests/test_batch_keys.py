"""Batch keys beyond x: data sets give item keys, models and guides take the ones they declare, the trainer passes them."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from inference.anneal import Annealer, SiteGroups, objective_groups
from inference.batch import batch_keys, check_batch_keys
from inference.errors import ConfigError
from inference.latents import elbo_terms
from inference.trainer import Trainer

pyro.enable_validation(True)


class Shifted(Dataset):
    """x = shift + noise per sequence; the item also gives its ``shift`` (a label) and its index."""

    def __init__(self, n: int = 8):
        self.shift = torch.arange(n, dtype=torch.float32)
        self.x = self.shift[:, None] + 0.1 * torch.randn(n, 3)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "shift": self.shift[i], "index": torch.tensor(i)}


class ShiftModel(nn.Module):
    """z ~ N(0, 1), x ~ N(z + shift, 1): needs the batch's ``shift``; records what it was given."""

    name, latent_groups, takes = "shift_model", {"static": "z"}, ("shift",)

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor | None] = []

    def forward(self, x, shift=None):
        self.seen.append(shift)
        shift = torch.zeros(x.shape[0]) if shift is None else shift
        with pyro.plate("sequences", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0]), 1.0))
            pyro.sample("x", dist.Normal((z + shift)[:, None], 1.0).to_event(1), obs=x)


class IndexGuide(nn.Module):
    """q(z) = N(a, 1); takes ``index`` (and records it) but not ``shift``."""

    name, takes = "index_guide", ("index",)

    def __init__(self):
        super().__init__()
        self.a, self.seen = nn.Parameter(torch.zeros(())), []

    def forward(self, x, index=None):
        pyro.module("guide", self)
        self.seen.append(index)
        with pyro.plate("sequences", x.shape[0]):
            pyro.sample("z", dist.Normal(self.a.expand(x.shape[0]), 1.0))


def trainer_for(tmp_path, model, guide, data, **options):
    return Trainer(model, guide, data, pyro.optim.Adam({"lr": 0.05}), Annealer(objective_groups(model), {}), tmp_path,
                   max_steps=3, batch_size=4, log_every=1, progress=False, **options)


def test_each_program_gets_exactly_the_keys_it_takes_for_the_steps_sequences(tmp_path):
    data, model, guide = Shifted(), ShiftModel(), IndexGuide()
    trainer = trainer_for(tmp_path, model, guide, data)
    model.seen.clear(), guide.seen.clear()
    trainer._svi_step(1)
    expected = trainer.order.indices(1)
    assert torch.equal(guide.seen[-1], expected)  # the guide gets its own key, for this step's sequences
    assert torch.equal(model.seen[-1], data.shift[expected])  # the model gets the labels of the same sequences


def test_the_logged_elbo_uses_the_keys(tmp_path):
    data, model, guide = Shifted(), ShiftModel(), IndexGuide()
    trainer = trainer_for(tmp_path, model, guide, data)
    trainer.fit()
    assert all(seen is not None for seen in model.seen)  # training steps, log rows and the test loss all passed shift
    x, shift = data.x[:4], data.shift[:4]
    with_key = elbo_terms(model, guide, x, SiteGroups.of(model), {"shift": shift, "index": torch.arange(4)})
    without = elbo_terms(model, guide, x, SiteGroups.of(model))
    assert with_key["recon"] > without["recon"]  # x sits at its shift: the model that knows it explains x better


def test_a_missing_key_is_one_line_naming_what_the_data_gives():
    with pytest.raises(ConfigError, match=r"model 'shift_model' takes batch keys \['shift'\] that data 'toy' does not give "
                                          r"\(its items give: x, index\)"):
        check_batch_keys(ShiftModel(), IndexGuide(), ("x", "index"), "data 'toy'")
    with pytest.raises(ConfigError, match=r"guide 'index_guide' takes batch keys \['index'\]"):
        check_batch_keys(ShiftModel(), IndexGuide(), ("x", "shift"), "data 'toy'")


def test_batch_keys_are_declared_or_read_from_an_item():
    assert batch_keys(Shifted()) == ("x", "shift", "index")
    declared = Shifted()
    declared.batch_keys = ("x", "shift")
    assert batch_keys(declared) == ("x", "shift")


def test_jit_with_batch_keys_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"trainer.jit=true traces x only; the model or guide takes batch keys \['index', 'shift'\]"):
        trainer_for(tmp_path, ShiftModel(), IndexGuide(), Shifted(), jit=True)


def test_a_config_whose_data_lacks_a_key_stops_in_one_line(tmp_path, monkeypatch):
    from inference import build
    from tests.test_config import TINY, compose_cfg

    original = build.build_model_and_guide

    def needs_views(cfg, train_set):
        model, guide = original(cfg, train_set)
        guide.takes = ("views",)
        return model, guide

    monkeypatch.setattr(build, "build_model_and_guide", needs_views)
    cfg = compose_cfg([f"cache_dir={tmp_path}", *TINY])
    data = build.build_data(cfg, "train")
    with pytest.raises(ConfigError, match=r"guide 'factorised' takes batch keys \['views'\] that data 'sprites' does not give "
                                          r"\(its items give: x, "):
        build.build_trainer(cfg, tmp_path / "run", data, None)
