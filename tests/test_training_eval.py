"""trainer.eval_every: the papers' judged metrics logged while training, without changing what training does."""
import csv

import pytest
import torch

from inference.build import build_data, build_trainer
from inference.errors import ConfigError
from tests.test_config import TINY, compose_cfg
from tests.test_trainer import make_trainer, params

JUDGE = "trainer.eval_judge={train_characters:2,test_characters:1,max_steps:2,min_accuracy:null}"


def fake_evaluator(model, guide):
    """Uses the global RNGs as a real evaluator does (prior samples), so a leak into training would show."""
    torch.rand(5), __import__("numpy").random.rand(3), __import__("random").random()
    return {"eval.dsa_table1.body.disagreement": 0.25}


def test_evaluation_does_not_change_training(tmp_path):
    plain = make_trainer(tmp_path / "plain", max_steps=6)
    plain.fit()
    evaluated = make_trainer(tmp_path / "evaluated", max_steps=6, eval_every=2, evaluator=fake_evaluator)
    evaluated.fit()
    expected, got = params(plain), params(evaluated)
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    rows = list(csv.DictReader((tmp_path / "evaluated" / "metrics.csv").open()))
    assert [r["step"] for r in rows if r["eval.dsa_table1.body.disagreement"]] == ["2", "4", "6"]


def test_eval_rows_are_logged_at_eval_steps_even_between_log_steps(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=5, log_every=4, eval_every=3, evaluator=fake_evaluator)
    trainer.fit()
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [r["step"] for r in rows] == ["3", "4", "5"]  # eval at 3 and at the last step; log at 4 and the last step
    assert [r["eval.dsa_table1.body.disagreement"] for r in rows] == ["0.25", "", "0.25"]
    assert (tmp_path / "eval_curves.png").stat().st_size > 0


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_bad_eval_every_is_one_line(tmp_path, value):
    with pytest.raises(ConfigError, match="eval_every"):
        make_trainer(tmp_path, max_steps=2, eval_every=value, evaluator=fake_evaluator)


def test_judged_metrics_of_a_sprites_run_reach_metrics_csv(tmp_path):
    cfg = compose_cfg([f"cache_dir={tmp_path / 'cache'}", *TINY, "trainer.max_steps=2", "trainer.eval_every=2", "trainer.eval_sequences=9",
                       "trainer.eval_metrics=[dsa_table1,consistency,fixed_motion]", JUDGE])
    train_set = build_data(cfg, "train")
    trainer = build_trainer(cfg, tmp_path / "run", train_set, None)
    trainer.fit()
    row = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))[-1]
    assert row["step"] == "2"
    for key in ("eval.dsa_table1.body.disagreement", "eval.dsa_table1.action.kl_recon", "eval.consistency.hair", "eval.fixed_motion.action.accuracy"):
        assert 0.0 <= float(row[key]), key
    assert not any(k.startswith("eval.embedding_accuracy") for k in row)  # only the listed metrics
    assert (tmp_path / "run" / "eval_curves.png").is_file()


def test_unknown_tracked_metric_is_one_line(tmp_path):
    cfg = compose_cfg([f"cache_dir={tmp_path / 'cache'}", *TINY, "trainer.eval_every=2", "trainer.eval_metrics=[fid]", JUDGE])
    with pytest.raises(ConfigError, match="unknown trainer.eval_metrics"):
        build_trainer(cfg, tmp_path / "run", build_data(cfg, "train"), None)


def test_eval_curves_show_every_judged_factor_against_training_time():
    from inference.logger import eval_panels, training_minutes

    rows = [
        {"step": "50", "sec_per_step": "0.6", "eval.reconstruction_consistency.body": "", "eval.dsa_table1.body.disagreement": "", "eval.dsa_table1.body.kl_recon": ""},
        {"step": "100", "sec_per_step": "1.2", "eval.reconstruction_consistency.body": "0.9", "eval.dsa_table1.body.disagreement": "0.3", "eval.dsa_table1.body.kl_recon": "2"},
        {"step": "100", "sec_per_step": "", "eval.reconstruction_consistency.body": "", "eval.dsa_table1.body.disagreement": "", "eval.dsa_table1.body.kl_recon": ""},
        {"step": "150", "sec_per_step": "0.6", "eval.reconstruction_consistency.body": "0.95", "eval.dsa_table1.body.disagreement": "0.2", "eval.dsa_table1.body.kl_recon": "1"},
    ]
    assert eval_panels(rows) == {"reconstruction_consistency": {"body": [(100, 0.9), (150, 0.95)]}, "dsa_table1": {"body": [(100, 0.3), (150, 0.2)]}}
    steps, minutes = zip(*training_minutes(rows))  # s/step times the steps since the previous row, judging excluded
    assert steps == (0, 50, 100, 150) and minutes == pytest.approx((0.0, 0.5, 1.5, 2.0))


def test_eval_curves_draw_the_embedding_accuracies_per_group_and_imputation_per_missing_count():
    from inference.logger import eval_panels

    row = {"step": "500", "eval.embedding_accuracy.accuracy.static.hair": "0.9", "eval.embedding_accuracy.accuracy.dynamics.action": "0.8",
           "eval.embedding_accuracy.accuracy.dynamics.action.direction": "0.7", "eval.embedding_accuracy.chance.hair": "0.2", **{f"eval.imputation.missing_frames.{n}": str(n / 100) for n in range(1, 30)},
           "eval.imputation.all_frames.5": "0.5"}
    panels = eval_panels([row])
    assert panels["embedding_accuracy: static"] == {"hair": [(500, 0.9)]}  # the chance column is not a line
    assert panels["embedding_accuracy: dynamics"] == {"action": [(500, 0.8)], "action.direction": [(500, 0.7)]}  # a part is its own line
    assert panels["imputation: wrong pixels of the missing frames"] == {f"{n} missing": [(500, n / 100)] for n in (1, 5, 10, 20, 29)}
    assert len(panels) == 3  # all-frames imputation is the report's, not a curve
