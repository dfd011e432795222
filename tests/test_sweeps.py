"""Sweeps on Hydra's launcher and sweeper plugins (the `[sweep]` extra): joblib and submitit_local jobs, an Optuna search,
and a failed job that the others outlive, each ending in the sweep's table."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).parent))
from test_config import TINY  # noqa: E402

from inference.errors import ConfigError
from inference.sweep import job_threads, sweep_table, write_result

ROOT = Path(__file__).resolve().parents[1]
SMALL = [o for o in TINY if not o.startswith("trainer.max_steps")] + ["trainer.max_steps=2"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def sweep(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def table_rows(sweep_dir: Path) -> list[str]:
    return [line for line in (sweep_dir / "sweep.md").read_text().splitlines() if line.startswith("| ") and not line.startswith(("| job", "| ---"))]


def test_joblib_sweep_outlives_a_failed_job_and_tables_it(tmp_path, cache):
    overrides = [o for o in SMALL if not o.startswith("trainer.batch_size")]
    result = sweep(tmp_path, "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "trainer.batch_size=2,5000", *overrides,
                   f"cache_dir={cache}", "hydra.sweep.dir=sweep")
    rows = table_rows(tmp_path / "sweep")
    assert len(rows) == 2
    assert "`trainer.batch_size=2`" in rows[0] and "| ok |" in rows[0]
    assert "`trainer.batch_size=5000`" in rows[1] and "failed: batch_size 5000 is larger than the training set (9 sequences)" in rows[1]
    assert (tmp_path / "sweep" / "0-dsa-factorised-seed0" / "checkpoints" / "checkpoint.pt").is_file()  # the good job trained
    good = json.loads((tmp_path / "sweep" / "0-dsa-factorised-seed0" / "result.json").read_text())
    assert good["status"] == "ok" and good["objective"] == "test_loss" and good["value"] > 0
    assert "1 of 2 jobs failed" in result.stderr + result.stdout
    evaluation = subprocess.run(  # evaluate.py's comparison lists the failed job with its line
        [sys.executable, str(ROOT / "evaluate.py"), "run=sweep", "max_sequences=4", "generated_sequences=4",
         "judge_overrides={train_characters:2,test_characters:1,max_steps:2,min_accuracy:null}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert evaluation.returncode == 0, evaluation.stderr[-2000:]
    comparison = (tmp_path / "sweep" / "comparison.md").read_text()
    assert "- `1-dsa-factorised-seed0`: batch_size 5000 is larger than the training set" in comparison


def test_submitit_local_sweep_runs_both_jobs(tmp_path, cache):
    sweep(tmp_path, "-m", "hydra/launcher=submitit_local", "guide=factorised,full", *SMALL, f"cache_dir={cache}", "hydra.sweep.dir=sweep")
    rows = table_rows(tmp_path / "sweep")
    assert len(rows) == 2 and all("| ok |" in row for row in rows)
    assert "`guide=factorised`" in rows[0] and "`guide=full`" in rows[1]
    for job in ("0-dsa-factorised-seed0", "1-dsa-full-seed0"):
        assert (tmp_path / "sweep" / job / "checkpoints" / "checkpoint.pt").is_file()


def test_optuna_search_tables_its_trials_best_first_and_saves_the_best_config(tmp_path, cache):
    sweep(tmp_path, "hparams_search=dsa_sprites_optuna", "hydra.sweeper.n_trials=3", *SMALL, f"cache_dir={cache}", "hydra.sweep.dir=search")
    search = tmp_path / "search"
    rows = table_rows(search)
    values = [float(row.rsplit("|", 2)[1]) for row in rows]
    assert len(rows) == 3 and values == sorted(values) and "(best)" in rows[0]  # minimised: best first
    best_job = rows[0].split("|")[1].split()[0]
    best = json.loads((search / best_job / "result.json").read_text())
    assert best["value"] == pytest.approx(min(values), rel=1e-5)
    results = OmegaConf.load(search / "optimization_results.yaml")
    assert results.best_value == pytest.approx(best["value"])
    assert OmegaConf.load(search / "best_config.yaml") == OmegaConf.load(search / best_job / ".hydra" / "config.yaml")
    for key, value in results.best_params.items():  # the sampled settings reached the job's config
        assert OmegaConf.select(OmegaConf.load(search / "best_config.yaml"), key) == pytest.approx(value)


def test_every_hparams_search_and_launcher_config_composes():
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        for path in sorted((ROOT / "conf" / "hparams_search").glob("*.yaml")):
            cfg = compose("train", overrides=[f"hparams_search={path.stem}"], return_hydra_config=True)
            assert cfg.hydra.sweeper.params and cfg.hydra.sweeper.direction in ("minimize", "maximize")
        cfg = compose("train", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
        assert cfg.hydra.launcher._target_.endswith("SlurmLauncher") and cfg.hydra.launcher.gpus_per_node == 1


def test_joblib_jobs_share_the_cores():
    launcher = OmegaConf.create({"launcher": {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 2}})
    import os
    assert job_threads(None, launcher) == max(1, (os.cpu_count() or 1) // 2)
    assert job_threads(3, launcher) == 3
    assert job_threads(None, OmegaConf.create({"launcher": {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}})) is None
    with pytest.raises(ConfigError, match="threads must be null"):
        job_threads(0, launcher)


def test_sweep_table_marks_killed_jobs_and_sorts_by_direction(tmp_path):
    for index, (value, error) in enumerate([(3.0, None), (1.0, None), (None, "disk full")]):
        job = tmp_path / f"{index}-job"
        (job / ".hydra").mkdir(parents=True)
        OmegaConf.save(OmegaConf.create([f"seed={index}", "shared=1"]), job / ".hydra" / "overrides.yaml")
        write_result(job, "test_loss", value, error)
    killed = tmp_path / "3-job" / ".hydra"
    killed.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(["seed=3", "shared=1"]), killed / "overrides.yaml")
    text, best = sweep_table(tmp_path, "maximize")
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith(("| job", "| ---"))]
    assert best.name == "0-job" and rows[0].startswith("| 0-job (best) | `seed=0` | ok | 3 |")
    assert rows[2] == "| 2-job | `seed=2` | failed: disk full | - |"
    assert "no result.json: the job was killed or is still running" in rows[3]
    assert "Shared overrides: `shared=1`" in text


@pytest.mark.parametrize("overrides,line", [
    (["objective=bogus"], "objective must be one of test_loss"),
    (["objective=eval.dsa_table1.action.disagreement"], "is a judged metric: set trainer.eval_every"),
])
def test_an_objective_no_run_can_return_is_refused_before_training(overrides, line):
    from inference.sweep import check_objective

    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("train", overrides=overrides)
    with pytest.raises(ConfigError, match=line):
        check_objective(cfg)


def test_a_run_stopped_by_a_signal_is_not_reported_as_finished(tmp_path, cache):
    import signal
    import time

    overrides = [o for o in SMALL if not o.startswith("trainer.max_steps")] + ["trainer.max_steps=100000", "trainer.log_every=1"]
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *overrides, f"cache_dir={cache}", f"hydra.run.dir={tmp_path / 'run'}"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (tmp_path / "run" / "metrics.csv").is_file() or len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) < 3:
        assert process.poll() is None and time.monotonic() < deadline, "the run did not start logging"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "failed" and result["error"].startswith("stopped by a signal at step ")
    assert f"resume={tmp_path / 'run'}" in result["error"]
