"""Annealing schedules: warm-up, inverse ramp, cyclical, and rejected negative weights."""
import pytest
import torch

from inference.anneal import Annealer
from inference.schedules import Constant, Cyclical, Linear


def test_linear_warmup_and_inverse_ramp():
    warmup = Linear(0.0, 1.0, steps=10)
    assert [warmup(s) for s in (0, 5, 10, 50)] == [0.0, 0.5, 1.0, 1.0]
    inverse = Linear(30.0, 1.0, steps=29, delay=5)  # VDSM's lambda_z: high -> low
    assert inverse(0) == inverse(5) == 30.0 and inverse(6) == 29.0 and inverse(100) == 1.0


def test_cyclical_restarts_each_period():
    cyc = Cyclical(period=10, ramp_fraction=0.5)
    assert [cyc(s) for s in (0, 2, 5, 9, 10, 12)] == [0.0, 0.4, 1.0, 1.0, 0.0, 0.4]


def test_negative_weights_rejected():
    with pytest.raises(ValueError):
        Linear(-1.0, 1.0)
    with pytest.raises(ValueError):
        Constant(-0.5)


def test_annealer_defaults_unlisted_groups_to_one_and_rejects_unknown():
    annealer = Annealer(["static", "dynamics"], {"static": Linear(0.0, 1.0, steps=4)})
    assert torch.equal(annealer.weights(2), torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="unknown latent groups"):
        Annealer(["static"], {"pose": Constant(1.0)})
