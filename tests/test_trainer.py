"""The shared trainer: learning, exact resume, NaN guard, stop on signal, atomic checkpoints."""
import os
import signal

import pyro
import pytest
import torch

from inference.anneal import Annealer
from inference.checkpoint import load_checkpoint, save_checkpoint
from inference.errors import NonFiniteLoss
from inference.schedules import Constant, Linear
from inference.trainer import Trainer
from tests.conftest import MovingSquares, tiny_guide, tiny_model


def make_trainer(run_dir, max_steps, seed=0, lr=1e-2, **options):
    """A trainer for the tiny DSA on moving squares; model weights drawn from ``seed``."""
    pyro.set_rng_seed(seed)
    model = tiny_model()
    guide = tiny_guide(model, options.pop("kind", "factorised"))
    annealer = Annealer(["static", "dynamics"], {"static": Linear(0.1, 1.0, steps=5), "dynamics": Constant(1.0)})
    settings = dict(batch_size=4, log_every=2, checkpoint_every=3, image_every=100, progress=False, preview=MovingSquares(4).x)
    settings.update(options)
    return Trainer(model, guide, MovingSquares(), pyro.optim.ClippedAdam({"lr": lr}), annealer, run_dir, max_steps=max_steps, **settings)


def params(trainer):
    return {**{f"m.{k}": v.clone() for k, v in trainer.model.state_dict().items()}, **{f"g.{k}": v.clone() for k, v in trainer.guide.state_dict().items()}}


def test_loss_goes_down(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=80, log_every=1, kind="full")
    losses = []
    step = trainer.svi.step
    trainer.svi.step = lambda *args: losses.append(step(*args)) or losses[-1]
    trainer.fit()
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    assert (tmp_path / "metrics.csv").read_text().count("\n") == 81  # header + a row per step
    assert (tmp_path / "loss_curve.png").stat().st_size > 0 and (tmp_path / "recon_swap.png").stat().st_size > 0


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    straight = make_trainer(tmp_path / "straight", max_steps=7)
    straight.fit()

    first = make_trainer(tmp_path / "split", max_steps=3)
    first.fit()
    pyro.clear_param_store()
    second = make_trainer(tmp_path / "split", max_steps=7, seed=123)  # different init: restore must overwrite it
    second.restore(tmp_path / "split" / "checkpoints" / "checkpoint.pt")
    assert second.step == 3
    second.fit()

    expected, got = params(straight), params(second)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    straight_rows = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    split_rows = (tmp_path / "split" / "metrics.csv").read_text().splitlines()
    steps = {r.split(",")[0] for r in straight_rows}
    # same logged values at the same steps (the split run also logged its last step, 3); sec_per_step is last
    strip_timing = lambda rows: [",".join(r.split(",")[:-1]) for r in rows if r.split(",")[0] in steps]
    assert strip_timing(straight_rows) == strip_timing(split_rows)


def test_nan_stops_with_message_and_keeps_good_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=10)
    real_step = trainer.svi.step

    def poisoned_step(*args):
        if trainer.step == 4:  # fault injection: weights go NaN before step 5
            with torch.no_grad():
                trainer.model.decoder.fc[0].weight.fill_(float("nan"))
        return real_step(*args)

    trainer.svi.step = poisoned_step
    with pytest.raises(NonFiniteLoss, match=r"at step 5.*checkpoint\.pt \(step 3\)"):
        trainer.fit()
    saved = load_checkpoint(tmp_path / "checkpoints" / "checkpoint.pt")
    assert saved["step"] == 3
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


def test_sigterm_finishes_step_and_saves(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=50, checkpoint_every=1000)
    real_step = trainer.svi.step

    def step_then_kill(*args):
        loss = real_step(*args)
        if trainer.step == 4:  # the 5th step is running
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    trainer.svi.step = step_then_kill
    trainer.fit()
    assert trainer.step == 5
    assert load_checkpoint(tmp_path / "checkpoints" / "checkpoint.pt")["step"] == 5
    assert signal.getsignal(signal.SIGTERM) is not None  # handlers restored


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1, "model": {}, "guide": {}, "config": {}})
    import inference.checkpoint as checkpoint_module

    def crash(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {"step": 2, "model": {}, "guide": {}, "config": {}})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="bad.pt is unreadable"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_same_seed_same_result(tmp_path):
    first = make_trainer(tmp_path / "a", max_steps=4)
    first.fit()
    pyro.clear_param_store()
    second = make_trainer(tmp_path / "b", max_steps=4)
    second.fit()
    for name, value in params(first).items():
        assert torch.equal(value, params(second)[name]), name


def test_jit_elbo_compiles_once_while_annealing_weights_change(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=8, jit=True)  # the static weight ramps 0.1 -> 1 over 5 steps
    trainer.fit()
    compiled = trainer.elbo._differentiable_loss.compiled
    assert len(compiled) == 1  # weights are a tensor argument: one trace for every step



def test_jit_elbo_follows_the_weights_it_is_given(tmp_path):
    """A weight baked into the JIT trace as a constant would freeze annealing; the tensor argument must flow."""
    from pyro.infer import TraceMeanField_ELBO

    trainer = make_trainer(tmp_path, max_steps=2, jit=True)
    trainer.fit()
    x = trainer.batch(1)
    model, guide = trainer.svi.model, trainer.svi.guide
    for weights in (torch.tensor([0.1, 1.0]), torch.tensor([5.0, 0.5])):
        pyro.set_rng_seed(11)
        jitted = trainer.elbo.loss(model, guide, x, weights)
        pyro.set_rng_seed(11)
        plain = TraceMeanField_ELBO().loss(model, guide, x, weights)
        assert jitted == pytest.approx(plain, rel=1e-4)
