"""Hydra: every config composes, one training step runs for every model x guide pair and experiment, bad input fails clearly."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from data import DataError
from evaluation.suite import judge_for
from guides import valid_guides
from inference.errors import ConfigError
from models import MODELS
from train import run

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
GROUPS = ["data", "model", "guide", "optim", "anneal", "trainer", "experiment"]
TINY = [
    "data.train_characters=1", "data.test_characters=1",
    "model.static_dim=4", "model.dynamics_dim=3", "model.hidden_dim=8", "model.width=4",
    "guide.feature_dim=8", "guide.hidden_dim=8", "guide.width=4",
    "trainer.max_steps=1", "trainer.batch_size=2", "trainer.progress=false",
]
TINY_SIZES = {  # the smallest network sizes, for whichever of these keys a model's config has (no per-model table)
    "static_dim": 4, "dynamics_dim": 3, "action_dim": 2, "hidden_dim": 8, "width": 4, "decoder_widths": "[8,4]",
}


def tiny_model_overrides(model: str) -> list[str]:
    """``model.<key>=<tiny>`` for each key of TINY_SIZES that conf/model/<model>.yaml sets."""
    keys = OmegaConf.load(CONF / "model" / f"{model}.yaml")
    return [f"model.{key}={value}" for key, value in TINY_SIZES.items() if key in keys]


TINY_DATA = {  # per data set: the smallest subset its size knobs allow (TINY's data.* keys are Sprites')
    "sprites": [o for o in TINY if o.startswith("data.")],
    "bouncing_mnist": ["data.train_sequences=4", "data.test_sequences=8"],  # 8: two halves with several digits for eq. 19's SVMs
    "moving_mnist": ["data.train_sequences=4", "data.test_sequences=2"],
    "sprites_helminger": ["data.train_characters=2", "data.test_characters=2"],
    "sprites_vdsm": ["data.train_characters=1", "data.test_characters=2"],  # two identities: a held-out half for embedding accuracy
    "bouncing_ball": ["data.train_sequences=4", "data.test_sequences=2"],
    "bouncing_square": ["data.train_sequences=4", "data.test_sequences=2"],
    "pendulum": ["data.sequences_per_combination=2"],
    "rotating_objects": ["data.objects=2", "data.seq_len=4"],  # 2 objects x 2 sequences per split
    "spoken_digits": ["data.takes=[0,5]"],  # take 0 tests, take 5 trains: 60 recordings each
}
TINY_JUDGE = {  # per judge: the smallest judge that trains in seconds, for experiments that judge while training
    "sprites": "{train_characters:2,test_characters:1,max_steps:2,min_accuracy:null}",
    "mnist": "{train_sequences:8,test_sequences:4,max_steps:2,min_accuracy:null}",
    "spoken_digits": "{takes:[0,5],test_takes:[0],max_steps:2,min_accuracy:null}",
    "sprites_sheet": "{train_characters:2,test_characters:1,max_steps:2,min_accuracy:null}",
}


def judges_while_training(cfg) -> bool:
    """Whether the experiment, or one of its stages, sets ``trainer.eval_every``."""
    return any(OmegaConf.select(part, "trainer.eval_every") for part in [cfg, *(cfg.get("stages") or [])])


def tiny_evaluation(cfg) -> list[str]:
    """Overrides that shrink ``trainer.eval_every``'s judge and test subset, for experiments that set it."""
    if not judges_while_training(cfg):
        return []
    judge = judge_for(cfg.data)
    return ["trainer.eval_sequences=4", *([f"trainer.eval_judge={TINY_JUDGE[judge[0]]}"] if isinstance(judge, tuple) else [])]


def tiny(model: str, data: str = "sprites") -> list[str]:
    """TINY with the model overrides of ``model`` and the size overrides of ``data``."""
    return [o for o in TINY if not o.startswith(("model.", "data."))] + tiny_model_overrides(model) + TINY_DATA[data]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name="train", overrides=overrides)


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_config_composes(group, option):
    cfg = compose_cfg([f"{group}={option}"])
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.parametrize("model,guide", [(m, g) for m in MODELS for g in valid_guides(m)])
def test_one_step_for_every_model_guide_pair(model, guide, tmp_path):
    cfg = compose_cfg([f"model={model}", f"guide={guide}", f"cache_dir={tmp_path / 'cache'}", *tiny(model)])
    scalars = run(cfg, tmp_path / "run")
    assert set(scalars) >= {"loss", "elbo"} | {f"kl_{group}" for group in MODELS[model].latent_groups}
    assert (tmp_path / "run" / "checkpoints" / "checkpoint.pt").is_file()
    assert (tmp_path / "run" / "recon_swap.png").is_file()


@pytest.mark.parametrize("experiment", options("experiment"))
def test_one_step_for_every_experiment(experiment, tmp_path):
    composed = compose_cfg([f"experiment={experiment}"])
    model = next(n for n, cls in MODELS.items() if cls.__name__ == composed.model._target_.rsplit(".", 1)[-1])
    staged = ["pretrain_steps=1"] if "pretrain_steps" in composed else []  # VDSM's first stage: one step too
    cfg = compose_cfg([f"experiment={experiment}", f"cache_dir={tmp_path / 'cache'}", *tiny(model, composed.data.name), *staged,
                       *tiny_evaluation(composed)])
    run(cfg, tmp_path / "run")
    last_stage = sorted((tmp_path / "run").rglob("metrics.csv"))[-1]
    assert ("eval." in last_stage.read_text().splitlines()[0]) == judges_while_training(composed)  # the judged metrics ran


def test_guide_that_does_not_fit_is_one_line_error(tmp_path):
    cfg = compose_cfg(["guide.name=ladder", f"cache_dir={tmp_path}", *TINY])
    with pytest.raises(ConfigError, match="guide 'ladder' does not fit model 'dsa'; valid guides for dsa: factorised, full"):
        run(cfg, tmp_path / "run")


def test_missing_raw_data_dir_is_clear(tmp_path):
    cfg = compose_cfg([f"data.raw_dir={tmp_path / 'nowhere'}", f"cache_dir={tmp_path}", *TINY])
    with pytest.raises(DataError):
        run(cfg, tmp_path / "run")


def train_cli(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "override,message",
    [
        ("model=transformer", "unknown model 'transformer'; valid: cdsvae, dsa"),
        ("guide.name=ladder", "valid guides for dsa: factorised, full"),
        ("data.train_characters=5000", "train_characters"),
        ("device=cuda:7", "cuda"),
    ],
)
def test_cli_bad_override_gives_clear_error_without_traceback(override, message, tmp_path):
    key = override.split("=")[0]
    tiny = [o for o in TINY if not o.startswith(key + "=")]
    result = train_cli(override, f"cache_dir={tmp_path}", *tiny, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_train_then_resume_continues(tmp_path):
    first = train_cli(*TINY, f"cache_dir={tmp_path / 'cache'}", "trainer.max_steps=2", "trainer.log_every=1", "hydra.run.dir=run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    resumed = train_cli("resume=run", "trainer.max_steps=4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["step", "1", "2", "3", "4"]
    assert not (tmp_path / "runs").exists(), "the resume left a stub run directory"
    log = (tmp_path / "run" / "train.log").read_text()
    assert "finished at step 2" in log and "resumed from" in log and "finished at step 4" in log  # appended, not replaced
    history = list((tmp_path / "run" / ".hydra").glob("resumed-*/overrides.yaml"))
    assert len(history) == 1 and "trainer.max_steps=4" in history[0].read_text()
    assert "trainer.max_steps=2" in (tmp_path / "run" / ".hydra" / "overrides.yaml").read_text()  # the first start's, kept


def test_cli_sweep_then_evaluate_writes_comparison(tmp_path):
    sweep = train_cli("-m", "guide=factorised,full", *TINY, f"cache_dir={tmp_path / 'cache'}", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert sweep.returncode == 0, sweep.stderr
    runs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if (p / "checkpoints" / "checkpoint.pt").is_file())
    assert runs == ["0-dsa-factorised-seed0", "1-dsa-full-seed0"]
    evaluation = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "run=sweep", "max_sequences=4", "generated_sequences=4",
         "judge_overrides={train_characters:2,test_characters:1,max_steps:2,min_accuracy:null}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert evaluation.returncode == 0, evaluation.stderr
    table = (tmp_path / "sweep" / "comparison.md").read_text()
    assert "0-dsa-factorised-seed0" in table and "1-dsa-full-seed0" in table and "kl_static" in table
    assert "dsa_table1.hair.disagreement" in table  # the judged DSA Table 1 metrics, with a 2-step judge
    hair_row = next(line for line in table.splitlines() if line.startswith("| dsa_table1.hair.disagreement |"))
    assert hair_row.rstrip().endswith("| 0.0006 |")  # the published number (DSA Table 1, hairstyle) in the paper column
    assert (tmp_path / "sweep" / "comparison.csv").read_text().splitlines()[-1].startswith("paper,")
    for run_name in runs:
        metrics = (tmp_path / "sweep" / run_name / "eval" / "metrics.json").read_text()
        assert '"sequences": 4' in metrics and '"split": "test"' in metrics
        assert (tmp_path / "sweep" / run_name / "eval" / "recon_swap.png").is_file()
        assert "## DSA Table 1" in (tmp_path / "sweep" / run_name / "eval" / "report.md").read_text()


@pytest.mark.parametrize("data,model,section,key,judge", [
    ("bouncing_ball", "dsa", "## DSA Fig. 8", "imputation", None),
    ("spoken_digits", "dsa", "## DSA Table 2", "dsa_table2", "{max_steps:2}"),
    ("bouncing_mnist", "hierarchical_vae", "## Grathwohl & Wilson eq. 19", "gw_disentanglement", "{train_sequences:8,test_sequences:4,max_steps:2}"),
    ("bouncing_ball", "hierarchical_vae", "Not computed: imputation", "not_applicable", None),  # its latents span all frames
])
def test_evaluate_reports_the_metric_of_each_data_set(tmp_path, data, model, section, key, judge):
    likelihood = ["model.likelihood=gaussian", "model.likelihood_scale=1.0"] if data == "spoken_digits" else []
    size = ["data.test_sequences=8"] if data == "bouncing_mnist" else []  # enough frames for eq. 19's SVMs
    trained = train_cli(f"data={data}", f"model={model}", *tiny(model, data), *size, *likelihood, f"cache_dir={tmp_path / 'cache'}", "hydra.run.dir=run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    judged = [f"judge_overrides={judge}", "generated_sequences=4"] if judge else []
    evaluation = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "run=run", "max_sequences=8", *judged], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert evaluation.returncode == 0, evaluation.stderr
    metrics = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    report_text = (tmp_path / "run" / "eval" / "report.md").read_text()
    assert key in metrics and section in report_text
    assert (tmp_path / "run" / "eval" / "progress.png").is_file()
    if model == "hierarchical_vae" and data == "bouncing_ball":
        assert set(metrics["not_applicable"]) == {"imputation", "imputation_predictive"}
        assert "one block over all frames" in metrics["not_applicable"]["imputation"]
    elif data == "bouncing_ball":
        assert set(metrics["imputation"]) == set(metrics["imputation_predictive"]) == {"all_frames", "missing_frames"} and "judge" not in metrics
        assert "## DSA Fig. 8 on the predictive marginal" in report_text
        assert all((tmp_path / "run" / "eval" / name).is_file() for name in ("imputation.png", "manifold.png", "swap_grid.png", "swap_grid.gif"))
    elif data == "spoken_digits":
        assert 0 <= metrics["dsa_table2"]["eer_static"] <= 1 and "-pictures" in metrics["figures"]
        assert metrics["judge"]["name"] == "spoken_digits" and set(metrics["dsa_table1"]) == {"speaker", "digit"}  # f: who, z: what
        assert set(metrics["generation"]) == {"speaker", "digit"} and "## Judge `spoken_digits`" in report_text
        assert metrics["voice_conversion"]["pairs"] == 8 * 5 and "## Voice conversion" in report_text  # into 5 other voices
        assert metrics["figure_checks"]["voice_conversion"]["voices"]["a"] != metrics["figure_checks"]["voice_conversion"]["voices"]["b"]
        assert all((tmp_path / "run" / "eval" / f"voice_{k}.wav").is_file() for k in ("a", "b", "b_words_a_voice", "a_words_b_voice"))
        bad = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "run=run", "judge_overrides={bogus:1}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert bad.returncode == 2 and "unknown setting(s) bogus for judge 'spoken_digits'" in bad.stderr and "Traceback" not in bad.stderr
    else:
        assert metrics["judge"]["name"] == "mnist" and set(metrics["dsa_table1"]) == {"digit"}  # the digit is static
        assert set(metrics["consistency"]) == {"digit"} and (tmp_path / "run" / "eval" / "judge_over_time.png").is_file()
        interpolation = metrics["figure_checks"]["interpolation"]  # G&W Figs. 4-5 and their checks, with the digit judge
        assert set(interpolation["static_path"]) == {"digit"} and 0 <= interpolation["motion_path_location_monotone"] <= 1
        assert set(metrics["figure_checks"]["prior_swap"]["swaps_keep_donor"]) == {"digit"} and "(G&W Fig. 2)" in report_text
        assert all((tmp_path / "run" / "eval" / name).is_file() for name in ("interpolation_static.png", "interpolation_motion.png", "prior_swap.png"))


def test_evaluate_without_a_run_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "run=nowhere"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "no trained run under nowhere" in result.stderr and "Traceback" not in result.stderr
    unset = subprocess.run([sys.executable, str(ROOT / "evaluate.py")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert unset.returncode == 2 and "say which run to evaluate" in unset.stderr and "Traceback" not in unset.stderr
    assert not (tmp_path / "None").exists()  # Hydra's log directory must not be named after the unset value


@pytest.mark.parametrize("override,message", [
    ("split=train", "split must be test"),
    ("max_sequences=0", "max_sequences must be null"),
    ("generated_sequences=1", "generated_sequences must be an integer >= 2"),
    ("fvd_sequences=2", "fvd_sequences must be an integer >= 4"),
    ("batch_size=0", "batch_size must be an integer >= 1"),
    ("fvd_extractor=/no/such/i3d.pt", "fvd_extractor /no/such/i3d.pt does not exist"),
])
def test_evaluate_options_are_checked_before_any_work(override, message):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=["run=somewhere", override])
    from evaluate import check_options

    with pytest.raises(ConfigError, match=message):
        check_options(cfg)
