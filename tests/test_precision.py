"""trainer.precision=bf16: networks in bfloat16, everything the ELBO adds up in float32, training as good within noise."""
import pyro.poutine as poutine
import pytest
import torch

from inference.errors import ConfigError
from inference.precision import set_precision
from tests.conftest import MovingSquares, tiny_guide, tiny_model
from tests.test_trainer import make_trainer


def test_networks_run_in_bf16_and_hand_back_float32():
    model = tiny_model()
    guide = tiny_guide(model, "full")
    wrapped = set_precision("bf16", torch.device("cpu"), model, guide)
    assert wrapped and all(p.dtype == torch.float32 for p in [*model.parameters(), *guide.parameters()])
    seen = []
    next(m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)).register_forward_hook(
        lambda module, inputs, output: seen.append(output.dtype))
    x = MovingSquares(3).x
    guide_trace = poutine.trace(guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
    assert seen == [torch.bfloat16]  # the decoder's layers ran in bfloat16
    for trace in (guide_trace, model_trace):
        for name, site in trace.nodes.items():
            if site["type"] == "sample":
                base = site["fn"].base_dist if hasattr(site["fn"], "base_dist") else site["fn"]
                assert all(v.dtype == torch.float32 for v in vars(base).values() if isinstance(v, torch.Tensor)), name
    assert set_precision("bf16", torch.device("cpu"), model, guide) == wrapped  # idempotent: no double wrapping
    assert set(model.state_dict()) == set(tiny_model().state_dict())


def test_fp32_wraps_nothing_and_unknown_precision_is_one_line(tmp_path):
    assert set_precision("fp32", torch.device("cpu"), tiny_model()) == []
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16"):
        make_trainer(tmp_path, max_steps=1, precision="fp16")


def test_bf16_trains_to_the_same_loss_within_noise(tmp_path):
    final = {}
    for precision in ("fp32", "bf16"):
        trainer = make_trainer(tmp_path / precision, max_steps=40, log_every=40, checkpoint_every=40, lr=1e-2, precision=precision)
        losses = []
        step = trainer.svi.step
        trainer.svi.step = lambda *args: losses.append(step(*args)) or losses[-1]
        trainer.fit()
        final[precision] = sum(losses[-10:]) / 10
        assert final[precision] < 0.8 * sum(losses[:10]) / 10  # it learns
    assert final["bf16"] == pytest.approx(final["fp32"], rel=0.05)
