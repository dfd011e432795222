"""optim.lr_scale: per-module learning rates (a lever of the reproduction sweeps), checked in one line."""
import pytest
import torch

from inference.build import build_data, build_trainer
from inference.errors import ConfigError
from inference.optim import ScaledLearningRates
from tests.test_config import TINY, compose_cfg


def one_step_change(tmp_path, overrides):
    """Per parameter name ("model.decoder...", "guide.static..."), how far one SVI step moved it (max |delta|)."""
    cfg = compose_cfg([f"cache_dir={tmp_path / 'cache'}", *TINY, "optim.optim_args.lr=0.01", *overrides])
    trainer = build_trainer(cfg, tmp_path / "run", build_data(cfg, "train"), None)
    named = lambda: {f"{owner}.{n}": p.detach().clone() for owner, m in (("model", trainer.model), ("guide", trainer.guide)) for n, p in m.named_parameters()}
    before = named()
    trainer.svi.step(trainer.batch(1), trainer.annealer.weights(1, trainer.device))  # the first step: same gradients in both runs
    return {name: (value - before[name]).abs().max().item() for name, value in named().items()}


def test_a_scaled_module_moves_by_its_factor_and_the_others_do_not_change(tmp_path):
    plain = one_step_change(tmp_path / "plain", [])
    scaled = one_step_change(tmp_path / "scaled", ["+optim.lr_scale={guide.static: 0.01}"])
    static = [n for n in plain if n.startswith("guide.static.")]
    assert static and len(static) < len(plain)
    for name in static:  # Adam's step is about lr per parameter, so it shrinks with the factor
        assert scaled[name] < 0.05 * plain[name], name
    for name in set(plain) - set(static):
        assert scaled[name] == pytest.approx(plain[name], rel=1e-4, abs=1e-9), name


def test_the_longest_prefix_wins():
    rates = ScaledLearningRates({"lr": 1.0, "clip_norm": 10.0}, {"guide": 0.5, "guide.static": 0.1, "guide.static.rnn.w": 7.0})
    assert rates("guide.static.rnn.weight") == {"lr": 0.1, "clip_norm": 10.0}  # "guide.static.rnn.w" is no module of it
    assert rates("guide.frame_head.bias")["lr"] == 0.5 and rates("model.decoder.0.weight")["lr"] == 1.0


@pytest.mark.parametrize("setting,message", [
    ("{guide.statik: 0.1}", "names no parameter; modules are"),
    ("{guide.static: 0}", "must be a positive number"),
    ("{guide.static: fast}", "must be a positive number"),
    ("0.1", "must map module prefixes"),
])
def test_bad_lr_scale_is_one_line(tmp_path, setting, message):
    cfg = compose_cfg([f"cache_dir={tmp_path / 'cache'}", *TINY, f"+optim.lr_scale={setting}"])
    with pytest.raises(ConfigError, match=message):
        build_trainer(cfg, tmp_path / "run", build_data(cfg, "train"), None)
