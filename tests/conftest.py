"""Shared fixtures: Pyro validation on, a clean param store, tiny models and a tiny in-memory data set."""
from __future__ import annotations

import os

import pyro
import pytest
import torch
from torch.utils.data import Dataset

from guides.dsa import DSAFactorisedGuide, DSAFullGuide
from models.dsa import DSA

if os.environ.get("PYTEST_XDIST_WORKER"):  # pyproject runs two workers (pytest-xdist): one core each, for them
    os.environ["OMP_NUM_THREADS"] = "1"   # and for the train.py / evaluate.py processes the tests start
    torch.set_num_threads(1)

FRAME = (1, 16, 16)
SEQ_LEN = 4


@pytest.fixture(autouse=True)
def pyro_state():
    """Validation on and an empty param store for every test."""
    pyro.enable_validation(True)
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    yield
    pyro.clear_param_store()


class MovingSquares(Dataset):
    """Tiny deterministic videos: a bright square (size = static content) moving right (dynamics)."""

    frame_shape, seq_len = FRAME, SEQ_LEN

    def __init__(self, count: int = 16) -> None:
        generator = torch.Generator().manual_seed(1)
        self.x = torch.zeros(count, SEQ_LEN, *FRAME)
        for i in range(count):
            size = 2 + i % 3
            row = int(torch.randint(0, 16 - size, (1,), generator=generator))
            for t in range(SEQ_LEN):
                col = (2 * t + i) % (16 - size)
                self.x[i, t, 0, row : row + size, col : col + size] = 0.9

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index]}


def tiny_model(**overrides) -> DSA:
    """A DSA small enough for unit tests."""
    sizes = dict(static_dim=4, dynamics_dim=3, hidden_dim=8, width=4)
    return DSA(FRAME, SEQ_LEN, **{**sizes, **overrides})


def tiny_guide(model: DSA, kind: str = "factorised"):
    """The factorised or full DSA guide at unit-test size."""
    cls = {"factorised": DSAFactorisedGuide, "full": DSAFullGuide}[kind]
    return cls(model, feature_dim=8, hidden_dim=8, width=4)


@pytest.fixture
def squares() -> MovingSquares:
    return MovingSquares()
