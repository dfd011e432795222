"""inference.run.Run: one object for a trained run (notebooks and scripts), and the example notebook executed."""
import json
import os
import shutil
from pathlib import Path

import pyro.poutine as poutine
import pytest
import torch

from inference.build import build_data, build_trainer
from inference.latents import posterior_means, swap
from inference.run import Run
from tests.test_config import TINY, compose_cfg

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny DSA run on Sprites, trained two steps in process (its checkpoint holds the config, as train.py's does)."""
    tmp = tmp_path_factory.mktemp("run")
    cfg = compose_cfg([f"cache_dir={tmp / 'cache'}", *TINY, "trainer.max_steps=2"])
    trainer = build_trainer(cfg, tmp / "run", build_data(cfg, "train"), None)
    trainer.fit()
    return tmp / "run"


def test_load_gives_the_pieces_and_the_traces_show_latents_only(trained):
    run = Run.load(trained)
    assert run.step == 2 and run.model.name in repr(run) and len(run.data) > 2
    table = repr(run.traces([0, 1])).splitlines()
    sites = [line.split()[0] for line in table[1:]]
    assert sites == ["f", *[f"z_{t}" for t in range(1, run.data.seq_len + 1)]]  # no parameters, no plates, no x
    assert table[1].split()[1:3] == ["static", "Normal"] and "(2,)" in table[1] and "(4,)" in table[1]


def test_posterior_is_stacked_per_group(trained):
    run = Run.load(trained)
    x = run.sequences([0, 1, 2])
    stacked, means = run.posterior(x), posterior_means(run.guide, x)
    assert torch.equal(stacked["static"], means["f"]) and stacked["static"].shape == (3, 4)
    assert stacked["dynamics"].shape == (3, run.data.seq_len, 3)
    assert torch.equal(stacked["dynamics"][:, 2], means["z_3"])


def test_swap_takes_the_static_latent_of_the_first_and_the_motion_of_the_second(trained):
    run = Run.load(trained)
    a, b = run.sequences([0]), run.sequences([1])
    assert torch.equal(run.swap(0, 1), swap(run.model, run.guide, run.groups, a, b))
    assert not torch.equal(run.swap(0, 1), run.swap(1, 0))


def test_generate_keeps_exactly_the_named_group(trained):
    run = Run.load(trained)
    tracer = poutine.trace(run.model)
    run.model = tracer
    run.generate(keep=["static"], which=[0, 1])
    drawn = tracer.trace.nodes
    means = posterior_means(run.guide, run.sequences([0, 1]))
    assert torch.equal(drawn["f"]["value"], means["f"]) and not torch.equal(drawn["z_1"]["value"], means["z_1"])
    with pytest.raises(ValueError, match="names no latent group .* statik"):
        run.generate(keep=["statik"], which=[0])


def test_metrics_come_from_the_evaluation_or_say_how_to_make_them(trained, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    with pytest.raises(FileNotFoundError, match="python evaluate.py run="):
        Run.load(copy).metrics()
    (copy / "eval").mkdir()
    (copy / "eval" / "metrics.json").write_text(json.dumps({"elbo": -1.5}))
    assert Run.load(copy).metrics() == {"elbo": -1.5}


def test_a_staged_run_loads_from_its_top_directory(trained, tmp_path):
    top = tmp_path / "staged"
    for stage in ("pretrain", "sequence"):
        shutil.copytree(trained / "checkpoints", top / stage / "checkpoints")
    (top / ".hydra").mkdir()
    (top / ".hydra" / "config.yaml").write_text("stages:\n  - name: pretrain\n  - name: sequence\n")
    assert Run.load(top).directory == top / "sequence"
    assert Run.load(top, stage="pretrain").directory == top / "pretrain"
    with pytest.raises(FileNotFoundError, match="no trained stage 'finetune'"):
        Run.load(top, stage="finetune")
    shutil.rmtree(top / "sequence")
    assert Run.load(top).directory == top / "pretrain"  # the last stage that has trained


def test_show_returns_a_figure_and_leaves_the_users_backend_alone(trained):
    import matplotlib

    previous = matplotlib.get_backend()
    import matplotlib.pyplot as plt

    plt.switch_backend("svg")
    try:
        figure = Run.load(trained).show({"test": 0, "swap": Run.load(trained).swap(0, 1)})
        assert matplotlib.get_backend() == "svg" and len(figure.axes) == 2
        assert not plt.get_fignums()  # closed: a notebook displays the returned figure once
    finally:
        plt.switch_backend(previous)


def test_the_example_notebook_runs(trained, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SEQZOO_RUN", str(trained))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(ROOT / "examples" / "inspect_a_run.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    outputs = [cell.get("outputs", []) for cell in notebook.cells if cell.cell_type == "code"]
    assert not any(o.output_type == "error" for cell in outputs for o in cell)
    images = [sum("image/png" in o.get("data", {}) for o in cell) for cell in outputs]
    assert images.count(1) == 2 and max(images) == 1  # the two show() cells, each drawn once
