"""The sweep table reads each run's judged metrics and overrides back from its own files."""
from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.sweep_table import main, markdown

HEADER = "step,loss,eval.dsa_table1.body.disagreement,eval.dsa_table1.body.kl_recon,eval.dsa_table1.action.disagreement,eval.gw_disentanglement.d_score\n"


def fake_run(root: Path, name: str, overrides: list[str], rows: list[str]) -> Path:
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (run / "metrics.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return run


def test_one_row_per_judged_step_with_the_overrides_that_differ(tmp_path):
    a = fake_run(tmp_path, "a", ["experiment=x", "seed=1"], ["50,9.0,,,,", "100,8.0,0.25,1.5,0.5,2.5"])
    b = fake_run(tmp_path, "b", ["experiment=x", "seed=2"], ["100,7.0,0.125,0.3,0.0625,"])
    table = markdown([a, b], ["dsa_table1", "gw_disentanglement"]).splitlines()
    assert table[0] == "| run | overrides (not shared by every run) | step | dsa_table1: body / action | gw_disentanglement: d_score |"
    assert table[2] == "| a | `seed=1` | 100 | 25.0 / 50.0 | 2.5 |"  # fractions as %, the KL column left out
    assert table[3] == "| b | `seed=2` | 100 | 12.5 / 6.2 | - |"
    assert len(table) == 4  # the step-50 row had no judged metric


def test_no_judged_metric_is_one_line(tmp_path, capsys):
    run = fake_run(tmp_path, "a", [], ["50,9.0,,,,"])
    assert main([str(run)]) == 2
    assert "no judged metrics" in capsys.readouterr().err
    with pytest.raises(ValueError, match="train with trainer.eval_every"):
        markdown([run], ["dsa_table1"])


def test_nested_keys_get_their_whole_path_and_every_eer_is_a_percentage(tmp_path):
    run = tmp_path / "speech"
    run.mkdir()
    (run / "metrics.csv").write_text(
        "step,eval.dsa_table2.eer_static_by_content.same_content,eval.dsa_table2.eer_static_by_content.different_content,"
        "eval.dsa_table2.eer_static,eval.dsa_table2.eer_dynamics\n500,0.025,0.0732,0.076,0.344\n")
    table = markdown([run], ["dsa_table2"]).splitlines()
    assert table[0].endswith("dsa_table2: eer_static_by_content.same_content / eer_static_by_content.different_content / eer_static / eer_dynamics |")
    assert table[2] == "| speech | - | 500 | 2.5 / 7.3 / 7.6 / 34.4 |"
