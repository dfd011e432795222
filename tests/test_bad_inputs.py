"""The README's "Bad input" table: each bad input stops with one line (`error: ...`, exit code 2), leaves no stub run
directory, and never touches an existing run's checkpoint, metrics or figures.

Most cases call train.py's Hydra entry point in-process (the config composed as Hydra would, fast); the cases that
only the real command line can show (names checked before Hydra composes, Hydra's own directories) run it."""
from __future__ import annotations

import copy
import hashlib
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict
from PIL import Image

import train
from data.errors import DataError
from inference.anneal import Annealer
from inference.trainer import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from conftest import MovingSquares, tiny_guide, tiny_model  # noqa: E402
from test_config import TINY  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROTECTED = ("checkpoints/checkpoint.pt", "metrics.csv", "recon_swap.png", "loss_curve.png", ".hydra/config.yaml")


def digest(run: Path) -> dict[str, str]:
    """sha256 of every file a bad input must leave untouched."""
    return {name: hashlib.sha256((run / name).read_bytes()).hexdigest() for name in PROTECTED if (run / name).is_file()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A cache and one finished tiny run (made by the real command line, so it has Hydra's .hydra/ too)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), *TINY, "trainer.max_steps=2", f"cache_dir={root / 'cache'}",
                             f"hydra.run.dir={root / 'finished'}"], cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return root


def call_main(overrides: list[str], run_dir: Path, capsys) -> str:
    """train.py's entry point on the config Hydra would compose; returns the one stderr line of a refused start."""
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    cfg = copy.deepcopy(cfg)  # as Hydra's run_job: the task sees its config without the hydra node
    with open_dict(cfg):
        del cfg["hydra"]
    with pytest.raises(SystemExit) as exited:
        train.main(cfg)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def corrupt(run: Path, target: Path) -> Path:
    """A copy of a finished run whose checkpoint is cut short."""
    shutil.copytree(run, target)
    data = (target / "checkpoints" / "checkpoint.pt").read_bytes()
    (target / "checkpoints" / "checkpoint.pt").write_bytes(data[: len(data) // 3])
    return target


def resized(run: Path, target: Path) -> Path:
    """A copy of a finished run whose checkpoint holds weights of another size than its config builds."""
    shutil.copytree(run, target)
    state = torch.load(target / "checkpoints" / "checkpoint.pt", weights_only=True)
    state["model"] = {k: torch.cat([v, v]) if v.dim() else v for k, v in state["model"].items()}
    torch.save(state, target / "checkpoints" / "checkpoint.pt")
    return target


def raw_with_altered_file(workspace: Path) -> Path:
    raw = workspace / "raw-altered"
    if not raw.exists():
        shutil.copytree(ROOT / "data" / "raw" / "lpc_sprites", raw, ignore=shutil.ignore_patterns("vdsm_variant", "reference"))
        with open(raw / "body" / "0.png", "ab") as handle:
            handle.write(b"\0")
    return raw


# (id, overrides (may use {ws}, the workspace), the message's expected part)
IN_PROCESS = [
    ("guide-does-not-fit", ["guide.name=ladder"], "guide 'ladder' does not fit model 'dsa'; valid guides for dsa: factorised, full"),
    ("negative-size", ["model.static_dim=-1"], "DSA sizes static_dim, dynamics_dim, hidden_dim and width must be >= 1"),
    ("zero-batch", ["trainer.batch_size=0"], "trainer.batch_size must be an integer >= 1, got 0"),
    ("batch-larger-than-data", ["trainer.batch_size=100"], "batch_size 100 is larger than the training set (9 sequences)"),
    ("zero-steps", ["trainer.max_steps=0"], "trainer.max_steps must be an integer >= 1, got 0"),
    ("float-steps", ["trainer.max_steps=2.5"], "trainer.max_steps must be an integer >= 1, got 2.5"),
    ("negative-log-every", ["trainer.log_every=-5"], "trainer.log_every must be an integer >= 1, got -5"),
    ("negative-seed", ["seed=-1"], "seed must be an integer in [0, 2**32), got -1"),
    ("negative-lr", ["optim.optim_args.lr=-0.1"], "optim.optim_args.lr must be a positive number, got -0.1"),
    ("negative-kl-weight", ["anneal.default.end=-1"], "annealing weight 'end' must be >= 0 (got -1"),
    ("unknown-likelihood", ["model.likelihood=poisson"], "unknown likelihood 'poisson'; choose one of normal, bernoulli"),
    ("cuda-without-cuda", ["device=cuda"], "no CUDA device is available; use device=cpu"),
    ("unknown-device", ["device=tpu"], "unknown device 'tpu'"),
    ("unknown-precision", ["trainer.precision=fp8"], "trainer.precision"),
    ("zero-eval-every", ["trainer.eval_every=0"], "trainer.eval_every must be null (off) or an integer >= 1, got 0"),
    ("too-many-characters", ["data.train_characters=5000"], "train_characters"),
    ("unknown-dataset-name", ["data.name=imagenet"], "unknown dataset 'imagenet'"),
    ("missing-raw-dir", ["data.raw_dir={ws}/nowhere", "cache_dir={ws}/empty-cache"], "nowhere/SHA256SUMS; restore data/raw/lpc_sprites"),
    ("altered-raw-file", ["data.raw_dir={altered}", "cache_dir={ws}/empty-cache"], "body/0.png fails its SHA256SUMS check"),
    ("resume-missing-dir", ["resume={ws}/nowhere"], "no run there"),
    ("resume-empty-dir", ["resume={ws}/empty"], "no run there"),
    ("resume-corrupt-checkpoint", ["resume={corrupt}"], "is unreadable"),
    ("resume-other-model-weights", ["resume={resized}"], "does not fit the model and guide its config builds"),
    ("resume-below-its-step", ["resume={ws}/finished", "trainer.max_steps=1"], "trainer.max_steps=1 is below the step of the checkpoint"),
    ("existing-run-dir", ["hydra.run.dir={ws}/finished"], "already holds a run; continue it with resume="),
]


@pytest.mark.parametrize("case,overrides,message", IN_PROCESS, ids=[c[0] for c in IN_PROCESS])
def test_bad_input_is_one_line_and_touches_nothing(case, overrides, message, workspace, capsys, tmp_path):
    finished = workspace / "finished"
    (workspace / "empty").mkdir(exist_ok=True)
    before = digest(finished)
    names = {"ws": workspace, "corrupt": "", "resized": "", "altered": ""}
    if case == "resume-corrupt-checkpoint":
        names["corrupt"] = corrupt(finished, tmp_path / "corrupt")
    if case == "resume-other-model-weights":
        names["resized"] = resized(finished, tmp_path / "resized")
    if case == "altered-raw-file":
        names["altered"] = raw_with_altered_file(workspace)
    overrides = [o.format(**names) for o in overrides]
    run_dir = finished if case == "existing-run-dir" else tmp_path / "run"
    base = [] if case.startswith("resume") else [*TINY, f"cache_dir={workspace / 'cache'}"]  # a resume takes its run's config
    base = [o for o in base if o.split("=")[0] not in {o.split("=")[0] for o in overrides}]
    line = call_main([*base, *overrides], run_dir, capsys)
    assert message in line
    assert digest(finished) == before
    assert run_dir == finished or not run_dir.exists()
    assert list((workspace / "empty").iterdir()) == []


def cli(*args: str, cwd: Path, script: str = "train.py") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


COMMAND_LINE = [
    ("unknown-model", ["model=transformer"], "unknown model 'transformer'; valid: cdsvae, dsa, frame_vae, hierarchical_vae"),
    ("unknown-guide", ["guide=ladder"], "unknown guide 'ladder'; valid: factorised, full"),
    ("unknown-optimiser", ["optim=sgd"], "unknown optim 'sgd'; valid: adam, clipped_adam"),
    ("unknown-anneal", ["anneal=exponential"], "unknown anneal 'exponential'; valid: beta, constant, cyclical, linear_warmup"),
    ("unknown-data-in-a-sweep", ["-m", "data=sprites,imagenet"], "unknown data 'imagenet'"),
    ("video-folder-without-root", ["data=video_folder"], "Missing mandatory value: data.root"),
    ("steps-not-a-number", ["trainer.max_steps=abc"], "trainer.max_steps must be an integer >= 1, got 'abc'"),
    ("resume-empty-dir", ["resume=empty"], "no run there"),
]


@pytest.mark.parametrize("case,overrides,message", COMMAND_LINE, ids=[c[0] for c in COMMAND_LINE])
def test_bad_command_line_is_one_line_exit_2_and_no_stub(case, overrides, message, workspace, tmp_path):
    (tmp_path / "empty").mkdir()
    keys = {o.split("=")[0] for o in overrides}
    base = [o for o in TINY if o.split("=")[0] not in keys and not (case == "video-folder-without-root" and o.startswith("data."))]
    result = cli(*base, f"cache_dir={workspace / 'cache'}", *overrides, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no runs/ or multirun/ stub
    assert list((tmp_path / "empty").iterdir()) == []


def test_existing_run_dir_keeps_its_config_record(workspace, tmp_path):
    finished = tmp_path / "finished"
    shutil.copytree(workspace / "finished", finished)
    before, records = digest(finished), sorted(p.name for p in (finished / ".hydra").iterdir())
    result = cli(*TINY, f"cache_dir={workspace / 'cache'}", f"hydra.run.dir={finished}", cwd=tmp_path)
    assert result.returncode == 2 and "already holds a run" in result.stderr
    assert digest(finished) == before and sorted(p.name for p in (finished / ".hydra").iterdir()) == records


def test_truncated_cache_entry_is_rebuilt_not_used(workspace, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(workspace / "cache", cache)
    frames = next(cache.glob("sprites-train-*")) / "frames.npy"
    frames.write_bytes(frames.read_bytes()[:1000])
    result = cli(*TINY, f"cache_dir={cache}", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0 and "is unusable" in result.stdout + result.stderr
    assert len(np.load(frames)) == 9


@pytest.mark.parametrize("case", ["no-readable-video", "unreadable-frame", "frames-of-mixed-sizes"])
def test_bad_video_folders_are_one_line(case, workspace, capsys, tmp_path):
    root = tmp_path / "videos"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for k in range(6):
            Image.new("RGB", (32, 32), (10 * k, 0, 0)).save(root / name / f"{k}.png")
    if case == "no-readable-video":
        shutil.rmtree(root / "a"), shutil.rmtree(root / "b")
        (root / "a.mp4").write_bytes(b"not a video")
    elif case == "unreadable-frame":
        (root / "b" / "3.png").write_bytes(b"\x89PNG broken")
    else:
        Image.new("RGB", (48, 32)).save(root / "b" / "3.png")
    message = {"no-readable-video": "cannot read video", "unreadable-frame": "cannot read video",
               "frames-of-mixed-sizes": "frame 3 is 48x32, frame 0 is 32x32"}[case]
    overrides = ["data=video_folder", f"data.root={root}", "data.size=16", "data.seq_len=4", "data.holdout_fraction=0.5"]
    tiny = [o for o in TINY if not o.startswith("data.")]
    assert message in call_main([*tiny, f"cache_dir={tmp_path / 'cache'}", *overrides], tmp_path / "run", capsys)


def test_nan_in_the_data_names_the_sequences(tmp_path):
    squares = MovingSquares()
    squares.x[5, 2, 0, 3, 3] = math.nan
    model = tiny_model()
    trainer = Trainer(model, tiny_guide(model), squares, __import__("pyro").optim.Adam({"lr": 1e-3}),
                      Annealer(list(model.latent_groups), {}), tmp_path, max_steps=4, batch_size=16, progress=False)
    with pytest.raises(DataError, match=r"training sequences \[5\] hold NaN or Inf values"):
        trainer.fit()


def test_evaluate_bad_inputs(workspace, tmp_path):
    assert "no trained run under" in cli(f"run={tmp_path}", cwd=tmp_path, script="evaluate.py").stderr
    zero = cli(f"run={workspace / 'finished'}", "max_sequences=0", cwd=tmp_path, script="evaluate.py")
    assert zero.returncode == 2 and "max_sequences must be null (the whole test split) or an integer >= 4, got 0" in zero.stderr
    sweep = tmp_path / "sweep"
    shutil.copytree(workspace / "finished", sweep / "good", ignore=shutil.ignore_patterns("eval*"))
    corrupt(workspace / "finished", sweep / "broken")
    result = cli(f"run={sweep}", "judges=false", "max_sequences=4", "generated_sequences=4", cwd=tmp_path, script="evaluate.py")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "broken" in lines[0] and "unreadable" in lines[0], result.stderr
    assert (sweep / "good" / "eval" / "metrics.json").is_file()  # the good run is still evaluated
