"""The papers' published numbers (evaluation/published.py) are matched to our metric keys only where they apply."""
from evaluation.published import DSA_TABLE1, published


def test_sprites_dsa_table1_and_vdsm_table1_numbers_by_key():
    metrics = {"data": "sprites", "dsa_table1": {}, "embedding_accuracy": {"accuracy": {"static": {}, "dynamics": {}}}}
    found = published(metrics)
    assert found["dsa_table1.hair.disagreement"] == 0.0006 and found["dsa_table1.action.kl_random"] == 13.7510
    assert found["consistency.body"] == 0.9967 and found["embedding_accuracy.accuracy.dynamics.action"] == 0.9933
    assert len([k for k in found if k.startswith("dsa_table1.")]) == 3 * len(DSA_TABLE1)


def test_vdsm_dynamics_embedding_is_its_action_latent_when_present():
    metrics = {"data": "sprites_vdsm", "embedding_accuracy": {"accuracy": {"static": {}, "action": {}, "dynamics": {}}}}
    found = published(metrics)
    assert found["embedding_accuracy.accuracy.action.hair"] == 0.21 and "embedding_accuracy.accuracy.dynamics.hair" not in found


def test_speech_and_gw_numbers_follow_guide_dimension_model_and_beta():
    speech = {"data": "spoken_digits", "guide": "full", "dsa_table2": {"static_dim": 64}}
    assert published(speech) == {"dsa_table2.eer_static": 0.0482, "dsa_table2.eer_dynamics": 0.1889}
    assert published({**speech, "dsa_table2": {"static_dim": 32}}) == {}  # the paper has no 32-d row
    gw = {"data": "bouncing_mnist", "model": "slow_vae", "beta": 2.0, "gw_disentanglement": {}}
    assert published(gw) == {"gw_disentanglement.d_score": 5.78}
    assert published({**gw, "beta": 3.0}) == {}


def test_no_sprites_numbers_beside_another_data_set():
    assert published({"data": "bouncing_mnist", "dsa_table1": {"digit": {}}}) == {}


def test_sweep_table_puts_each_runs_published_number_in_column_order(tmp_path):
    from evaluate import write_table

    def speech_run(name: str, guide: str, eer: float) -> tuple:
        return tmp_path / name, {"data": "spoken_digits", "guide": guide, "dsa_table2": {"static_dim": 16, "eer_static": eer}}

    write_table([speech_run("a", "full", 0.2), speech_run("b", "factorised", 0.3)], tmp_path)
    row = next(line for line in (tmp_path / "comparison.md").read_text().splitlines() if line.startswith("| dsa_table2.eer_static |"))
    assert row == "| dsa_table2.eer_static | 0.2 | 0.3 | 0.0564 / 0.0478 |"  # full's number under run a, factorised's under b
    write_table([speech_run("a", "full", 0.2), speech_run("b", "full", 0.3)], tmp_path)
    assert "| dsa_table2.eer_static | 0.2 | 0.3 | 0.0564 |" in (tmp_path / "comparison.md").read_text()
