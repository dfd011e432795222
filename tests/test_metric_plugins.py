"""Metrics as plug-ins (evaluation/plugins/) and data sets' declared evaluation facts (evaluation/facts.py): the seam a
new metric or data set goes through, checked against what a broken seam would do."""
from __future__ import annotations

from pathlib import Path

import pyro
import pyro.distributions as dist
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

import data
from evaluation.facts import DataFacts, data_facts
from evaluation.judges import JUDGES
from evaluation.plugins import JUDGED, METRICS, TRACKED, Context, Metric, MetricOptions, published
from evaluation.report import paper_sections
from evaluation.suite import EVAL_FRAMES, batch_for, judge_for, paper_metrics
from evaluation.protocols import label_parts
from inference.anneal import SiteGroups
from inference.errors import ConfigError
from tests.test_protocols_extra import CHARACTERS, COLOURS, Characters

ROOT = Path(__file__).resolve().parents[1]
DATA_CONFIGS = sorted((ROOT / "conf" / "data").glob("*.yaml"))


def test_registry_holds_every_metric_once_in_report_order() -> None:
    assert list(METRICS) == sorted(METRICS, key=lambda name: METRICS[name].order)
    assert {"dsa_table1", "consistency", "reconstruction_consistency", "swap_consistency", "fixed_motion", "generation", "fvd",
            "embedding_accuracy", "gw_disentanglement", "dsa_table2", "imputation"} <= set(METRICS)
    assert "generation" not in TRACKED and "fvd" not in TRACKED  # prior samples are not tracked while training
    assert set(JUDGED) == {name for name, m in METRICS.items() if m.needs_judge} and "embedding_accuracy" not in JUDGED
    assert all(type(m).__doc__ for m in METRICS.values())  # one line on what each measures


@pytest.mark.parametrize("path", DATA_CONFIGS, ids=lambda p: p.stem)
def test_every_data_config_declares_facts_its_data_set_has(path: Path) -> None:
    cfg = OmegaConf.load(path)
    assert "evaluation" in cfg, f"{path.name} declares no evaluation block"
    facts = data_facts(cfg)
    if facts.judge is not None:
        assert facts.judge in JUDGES and (ROOT / "conf" / "judge" / f"{facts.judge}.yaml").is_file()
        assert isinstance(judge_for(cfg), tuple) or cfg.name == "moving_mnist"  # two-digit Moving MNIST: no judge fits
    dataset_class = data.DATASETS[cfg.name]
    keys = getattr(dataset_class, "label_keys", None)
    if keys is None:  # labels known per folder only (video_folder)
        return
    info = getattr(dataset_class, "labels_info", {})
    names = set(keys) | {str(n) for entry in info.values() if isinstance(entry, dict) for n in entry.get("names", ())}
    names |= {f"{key}.{part}" for key in keys for part in label_parts(info, key)}  # Sprites: action.motion, action.direction
    declared = {facts.identity, facts.static_target, facts.temporal_target, *facts.factors} - {None}
    assert declared <= names, f"{path.name}: {sorted(declared - names)} are not labels of {cfg.name}"


def test_runs_saved_before_the_block_read_it_from_the_repository() -> None:
    old = OmegaConf.create({"name": "sprites", "train_characters": None})  # a checkpoint's data config of an older run
    assert data_facts(old) == data_facts(OmegaConf.load(ROOT / "conf" / "data" / "sprites.yaml"))
    assert data_facts(old).identity == "character"
    assert data_facts({"name": "no_such_data"}) == DataFacts()


@pytest.mark.parametrize("block, message", [
    ({"judge": "sprites", "identiy": "character"}, "unknown evaluation key\\(s\\) identiy"),
    ({"factors": "body"}, "evaluation.factors must be a list"),
    ({"binary_frames": "yes"}, "binary_frames must be true or false"),
    ({"judge": 3}, "evaluation.judge must be a label name or null"),
])
def test_bad_evaluation_blocks_are_one_line_errors(block: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        data_facts({"name": "sprites", "evaluation": block})


def test_the_judge_is_the_declared_one_and_refuses_data_it_cannot_read() -> None:
    sprites = OmegaConf.load(ROOT / "conf" / "data" / "sprites.yaml")
    assert judge_for(sprites) == ("sprites", {"dataset": "sprites"})
    assert "no judge is declared" in judge_for(OmegaConf.merge(sprites, {"evaluation": {"judge": None}}))
    assert judge_for(OmegaConf.merge(sprites, {"name": "sprites_vdsm"})) == ("sprites", {"dataset": "sprites_vdsm"})
    with pytest.raises(ConfigError, match="evaluation.judge 'spirtes' is not a judge"):
        judge_for(OmegaConf.merge(sprites, {"evaluation": {"judge": "spirtes"}}))
    two_digits = OmegaConf.load(ROOT / "conf" / "data" / "moving_mnist.yaml")
    assert "one-digit frames" in judge_for(two_digits)
    assert judge_for(OmegaConf.merge(two_digits, {"num_digits": 1})) == ("mnist", {})
    speech = OmegaConf.load(ROOT / "conf" / "data" / "spoken_digits.yaml")
    assert judge_for(speech)[0] == "spoken_digits" and "take split" in judge_for(OmegaConf.merge(speech, {"split_by": "speaker"}))


def test_evaluation_code_names_no_data_set() -> None:
    for path in (ROOT / "evaluate.py", ROOT / "evaluation" / "suite.py"):
        source = path.read_text()
        assert not [name for name in data.DATASETS if f'"{name}"' in source or f"'{name}'" in source], path.name


class RandomMetric(Metric):
    """A test metric: one draw of the global torch RNG, and a published number beside it for model 'toy' only."""

    name = "random_draw"
    order = 5

    def compute(self, ctx: Context) -> dict:
        """One uniform draw."""
        return {"value": float(torch.rand(()))}

    def published(self, metrics: dict) -> dict[str, float]:
        return {"random_draw.value": 0.5} if metrics.get("model") == "toy" else {}

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        return [f"## Random draw {metrics[self.name]['value']:.3f} (paper {paper.get('random_draw.value', '-')})"]


class AnotherDraw(RandomMetric):
    """A second metric drawing from the RNG before the first one."""

    name = "another_draw"
    order = 1


def _run(only: tuple[str, ...]) -> dict:
    cfg = OmegaConf.create({"data": {"name": "none", "evaluation": {}}})
    return paper_metrics(cfg, None, None, SiteGroups({}), Characters(), 4, MetricOptions(), "cpu", None, only=only)


def test_a_new_metric_is_picked_up_reported_and_seeded_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(METRICS, "another_draw", AnotherDraw())
    monkeypatch.setitem(METRICS, "random_draw", RandomMetric())
    alone = _run(("random_draw",))
    together = _run(("another_draw", "random_draw"))
    assert set(together) == {"another_draw", "random_draw"}
    assert alone["random_draw"] == together["random_draw"]  # its number does not depend on what ran before it
    metrics = {"model": "toy", **together}
    assert published(metrics) == {"random_draw.value": 0.5} and published({**metrics, "model": "other"}) == {}
    assert "(paper 0.5)" in "\n".join(paper_sections(metrics))


def test_metrics_needing_what_the_data_lacks_are_left_out() -> None:
    found = _run(tuple(METRICS))  # no judge, no factors, no binary frames, no eq. 19 targets, no speakers
    assert found == {}


class CharacterLookupGuide(nn.Module):
    """A static latent that names the character (one-hot of its index), and nothing that generalises to new characters."""

    latent_groups = {"static": r"f"}

    def forward(self, x: torch.Tensor) -> None:
        with pyro.plate("sequences", x.shape[0]):
            pyro.sample("f", dist.Normal(nn.functional.one_hot(x[:, 0, 0, 1, 0].long(), CHARACTERS).float(), 1.0).to_event(1))


class NamedCharacters(Characters):
    """Characters with the character's index written into pixel (1, 0) of each frame."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        item["x"][:, 0, 1, 0] = item["character"]
        return item


@pytest.mark.parametrize("identity, memorised", [("character", False), (None, True)])
def test_embedding_split_follows_the_declared_identity(identity: str | None, memorised: bool) -> None:
    ctx = Context(OmegaConf.create({}), DataFacts(identity=identity, factors=("colour",)), None, CharacterLookupGuide(),
                  SiteGroups.of(CharacterLookupGuide), NamedCharacters(), len(NamedCharacters()), MetricOptions(), "cpu")
    found = METRICS["embedding_accuracy"].compute(ctx)
    assert found["split_by"] == (identity or "sequence")
    accuracy = found["accuracy"]["static"]["colour"]
    # a character lookup predicts colour only for characters it has seen: with the identity split, none
    assert (accuracy == 1.0) if memorised else (accuracy <= 1 / COLOURS + 0.15)


def test_evaluation_batches_hold_at_most_eval_frames_frames_but_keep_short_sequences_at_the_asked_size() -> None:
    class Sheets:
        seq_len = 178  # Helminger's whole sheets

    class Clips:
        seq_len = 8

    assert batch_for(Sheets(), 64) == EVAL_FRAMES // 178 and batch_for(Sheets(), 64) * 178 <= EVAL_FRAMES
    assert batch_for(Clips(), 64) == 64 and batch_for(Clips(), 5) == 5  # the runs of every other data set are unchanged

    class Huge:
        seq_len = 10 * EVAL_FRAMES

    assert batch_for(Huge(), 64) == 1
