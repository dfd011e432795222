"""Judges (evaluation/judges/): degradations, prediction shapes, cache reuse and repair, threshold, no test leak."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from data import sprites as sprites_data
from data.cache import entry_dir
from evaluation import judges
from evaluation.judges import (
    JUDGES,
    Augmentation,
    JudgeError,
    JudgeTooWeak,
    augment,
    box_blur,
    build_judge,
    degrade,
    judge_cache_settings,
    judge_settings,
    load_data,
    load_or_train_judge,
    resample,
)

CONF = Path(__file__).resolve().parents[1] / "conf" / "judge"
SPRITES_TINY = dict(train_characters=2, test_characters=2, max_steps=1, batch_size=4, width=4, feature_dim=8)
MNIST_TINY = dict(train_sequences=8, test_sequences=4, max_steps=2, batch_size=4, width=4, feature_dim=8)
SPEECH_TINY = dict(takes=[0, 5], test_takes=[0], max_steps=2, hidden_dim=8)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module (data are built once); tests that need a fresh judge entry change its seed."""
    return tmp_path_factory.mktemp("judge_cache")


@pytest.fixture
def fit_calls(monkeypatch: pytest.MonkeyPatch) -> list[judges.LabelledData]:
    """Record the data every call of the trainer receives."""
    calls: list[judges.LabelledData] = []
    real_fit = judges.training.fit

    def recording_fit(judge, data, *args, **kwargs):
        calls.append(data)
        return real_fit(judge, data, *args, **kwargs)

    monkeypatch.setattr(judges.training, "fit", recording_fit)  # where train_and_report looks it up
    return calls


# ---------------------------------------------------------------- degradations
def test_box_blur_keeps_a_constant_image_and_spreads_an_impulse() -> None:
    constant = torch.full((2, 3, 7, 9), 0.3)
    assert torch.allclose(box_blur(constant), constant)
    impulse = torch.zeros(1, 1, 7, 7)
    impulse[0, 0, 3, 3] = 1.0
    blurred = box_blur(impulse)[0, 0]
    assert torch.allclose(blurred[2:5, 2:5], torch.full((3, 3), 1 / 9))
    assert blurred.sum().item() == pytest.approx(1.0)
    assert blurred[:2].abs().sum() == 0 and blurred[5:].abs().sum() == 0


def test_resample_keeps_constants_and_removes_fine_detail() -> None:
    constant = torch.full((1, 1, 20, 129), -0.7)  # a speech segment's odd size works too
    assert torch.allclose(resample(constant), constant, atol=1e-6)
    rows, cols = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = ((rows + cols) % 2).float()[None, None]
    out = resample(checker)
    assert out.shape == checker.shape
    assert out.std() < 0.1 * checker.std()  # the finest pattern averages out to grey


def test_augment_is_identity_at_probability_zero_and_stays_in_range() -> None:
    images = torch.rand(16, 3, 16, 16)
    off = Augmentation(blur_prob=0.0, resample_prob=0.0, noise_prob=0.0)
    assert torch.equal(augment(images, off, torch.Generator().manual_seed(0)), images)
    full = Augmentation(blur_prob=1.0, resample_prob=1.0, noise_prob=1.0, noise_std=0.5)
    first = augment(images, full, torch.Generator().manual_seed(0))
    again = augment(images, full, torch.Generator().manual_seed(0))
    assert torch.equal(first, again) and not torch.allclose(first, images)
    assert first.min() >= 0.0 and first.max() <= 1.0
    spectra = torch.randn(4, 1, 20, 129) * 3
    assert augment(spectra, Augmentation(value_range=None, noise_std=1.0), torch.Generator()).abs().max() > 1.0


def test_degrade_conditions() -> None:
    images = torch.rand(2, 1, 8, 8)
    assert torch.equal(degrade(images, "clean"), images)
    assert torch.equal(degrade(images, "blurred"), box_blur(images, 3))
    assert torch.equal(degrade(images, "resampled"), resample(images, 2))
    with pytest.raises(JudgeError, match="unknown evaluation condition"):
        degrade(images, "sharpened")


# ---------------------------------------------------------------- predictions
def _assert_probabilities(probs: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert probs.shape == shape
    assert probs.min() >= 0
    assert torch.allclose(probs.sum(-1), torch.ones(shape[:-1]), atol=1e-5)


def test_sprites_judge_predicts_attributes_per_frame_and_sequence_and_action_per_sequence() -> None:
    judge = build_judge("sprites", width=4, feature_dim=8)
    probs = judge.predict(torch.rand(3, 8, 3, 64, 64), batch_size=2)
    for attribute in sprites_data.ATTRIBUTE_NAMES:
        _assert_probabilities(probs[attribute], (3, 8, 6))
        _assert_probabilities(probs[f"{attribute}_sequence"], (3, 6))
        assert judge.levels[attribute] == "frame" and judge.levels[f"{attribute}_sequence"] == "sequence"
    _assert_probabilities(probs["action"], (3, 9))
    assert set(probs) == set(judge.heads)
    _assert_probabilities(judge.predict(torch.rand(2, 5, 3, 64, 64))["action"], (2, 9))  # any length
    with pytest.raises(JudgeError, match="sprites judge reads"):
        judge.predict(torch.rand(3, 3, 64, 64))


def test_mnist_and_speech_judges_predict_probabilities() -> None:
    digits = build_judge("mnist", width=4, feature_dim=8)
    _assert_probabilities(digits.predict(torch.rand(2, 5, 1, 64, 64))["digit"], (2, 5, 10))
    _assert_probabilities(digits.predict(torch.rand(4, 1, 64, 64))["digit"], (4, 10))
    speech = build_judge("spoken_digits", hidden_dim=8)
    probs = speech.predict(torch.randn(3, 20, 129))
    _assert_probabilities(probs["speaker"], (3, 6))
    _assert_probabilities(probs["digit"], (3, 10))
    with pytest.raises(JudgeError):
        speech.predict(torch.randn(3, 20, 64))


def test_sequence_predictions_and_the_heads_each_latent_should_carry() -> None:
    sprites = build_judge("sprites", width=4, feature_dim=8)
    assert set(sprites.sequence_heads()) == {f"{a}_sequence" for a in sprites_data.ATTRIBUTE_NAMES} | {"action"}
    assert sprites.static_heads == tuple(sprites_data.ATTRIBUTE_NAMES) and sprites.motion_heads == ("action",)
    digits = build_judge("mnist", width=4, feature_dim=8)
    video = torch.rand(2, 5, 1, 64, 64)
    per_sequence = digits.predict_sequences(video)
    assert set(per_sequence) == {"digit"} and digits.static_heads == ("digit",) and digits.motion_heads == ()
    assert torch.allclose(per_sequence["digit"], digits.predict(video)["digit"].mean(1))  # frames averaged over time
    speech = build_judge("spoken_digits", hidden_dim=8)
    assert speech.static_heads == ("speaker",) and speech.motion_heads == ("digit",)
    spectra = torch.randn(2, 20, 129) * 3
    assert torch.equal(speech.clip(spectra), spectra)  # normalised spectra are unbounded: never clipped
    assert digits.clip(video * 3 - 1).min() == 0 and digits.clip(video * 3 - 1).max() == 1  # images: into [0, 1]


# ---------------------------------------------------------------- cache
def test_cache_is_reused_and_a_corrupt_weight_file_is_rebuilt(cache: Path, fit_calls: list) -> None:
    first, report = load_or_train_judge("spoken_digits", cache, **SPEECH_TINY)
    assert len(fit_calls) == 1 and not report["from_cache"]
    assert set(report["test"]) >= {"clean", "blurred", "resampled"}
    assert set(report["test"]["clean"]) == {"speaker", "digit"}
    second, again = load_or_train_judge("spoken_digits", cache, **SPEECH_TINY)
    assert len(fit_calls) == 1 and again["from_cache"] and again["test"] == report["test"]
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])
    weight_file = sorted(Path(report["cache_entry"]).glob("weights.*.npy"))[0]
    weight_file.write_bytes(weight_file.read_bytes()[:-8] + b"garbage!")
    third, rebuilt = load_or_train_judge("spoken_digits", cache, **SPEECH_TINY)
    assert len(fit_calls) == 2 and not rebuilt["from_cache"]
    for key, value in first.state_dict().items():  # training is deterministic
        assert torch.allclose(value, third.state_dict()[key])


def test_cache_key_follows_weight_settings_and_data_but_not_the_threshold() -> None:
    base = judge_cache_settings("sprites", judge_settings("sprites", **SPRITES_TINY))
    same = judge_cache_settings("sprites", judge_settings("sprites", **SPRITES_TINY, min_accuracy=0.5))
    assert base == same
    for change in ({"lr": 0.01}, {"blur_prob": 0.0}, {"train_characters": 3}, {"width": 8}):
        assert judge_cache_settings("sprites", judge_settings("sprites", **(SPRITES_TINY | change))) != base


# ---------------------------------------------------------------- threshold
def test_judge_too_weak_is_raised_for_an_untrained_sprites_judge(cache: Path, fit_calls: list) -> None:
    with pytest.raises(JudgeTooWeak, match="97 % on Sprites attributes") as raised:
        load_or_train_judge("sprites", cache, **SPRITES_TINY)  # default min_accuracy 0.97
    assert "\n" not in str(raised.value)
    judge, report = load_or_train_judge("sprites", cache, **SPRITES_TINY, min_accuracy=None)
    assert len(fit_calls) == 1 and report["from_cache"]  # the weak judge was cached, not retrained
    assert min(report["test"]["clean"][a] for a in sprites_data.ATTRIBUTE_NAMES) < 0.97


# ---------------------------------------------------------------- no test data in training
def test_sprites_judge_trains_on_train_characters_only(cache: Path, fit_calls: list) -> None:
    _, report = load_or_train_judge("sprites", cache, **SPRITES_TINY, seed=1, min_accuracy=None)
    (trained_on,) = fit_calls
    assert trained_on.split == "train"
    characters = set(np.unique(trained_on.labels["character"]).tolist())
    assert characters <= set(sprites_data.split_characters("train").tolist())
    assert not characters & set(sprites_data.split_characters("test").tolist())
    for split in ("train", "test"):
        key = report[f"{split}_data"]
        assert key["settings"]["split"] == split
        assert entry_dir(key["entry"], key["settings"], cache).is_dir()  # our key is the data cache's key
    assert report["test"]["sequences"] == 2 * 9
    test_data = load_data("sprites", "test", judge_settings("sprites", **SPRITES_TINY), cache)
    with pytest.raises(JudgeError, match="train split only"):
        judges.fit(build_judge("sprites", width=4, feature_dim=8), test_data, judge_settings("sprites"), {}, None)


def test_mnist_judge_trains_on_mnist_train_digits_only(cache: Path, fit_calls: list) -> None:
    _, report = load_or_train_judge("mnist", cache, **MNIST_TINY)
    (trained_on,) = fit_calls
    assert trained_on.split == "train" and report["training"]["steps"] == 2
    for split in ("train", "test"):
        key = report[f"{split}_data"]
        assert key["settings"]["split"] == split
        assert entry_dir(key["entry"], key["settings"], cache).is_dir()
    assert set(report["test"]["blurred"]) == {"digit"}


def test_speech_judge_trains_on_train_takes_only(cache: Path, fit_calls: list) -> None:
    _, report = load_or_train_judge("spoken_digits", cache, **SPEECH_TINY, seed=3)
    (trained_on,) = fit_calls
    assert trained_on.split == "train" and set(trained_on.labels["take"].tolist()) == {5}
    key = report["train_data"]
    assert key["split"] == "train" and key["test_takes"] == [0]
    assert entry_dir(key["entry"], key["settings"], cache).is_dir()


# ---------------------------------------------------------------- settings and config
def test_bad_names_and_settings_are_one_line_errors() -> None:
    with pytest.raises(JudgeError, match="unknown judge 'chairs'"):
        judge_settings("chairs")
    with pytest.raises(JudgeError, match="unknown setting\\(s\\) epoch for judge 'sprites'"):
        judge_settings("sprites", epoch=3)
    with pytest.raises(JudgeError, match="blur_prob must be a number"):
        judge_settings("mnist", blur_prob=2)
    with pytest.raises(JudgeError, match="check_conditions"):
        judge_settings("sprites", conditions=["clean"])
    with pytest.raises(JudgeError, match="train_characters"):
        judge_cache_settings("sprites", judge_settings("sprites", train_characters=5000))


@pytest.mark.parametrize("name", sorted(JUDGES))
def test_the_config_file_is_the_one_source_of_defaults(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluation.judges import settings as judge_settings_module

    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert cfg._target_ == "evaluation.judges.load_or_train_judge" and cfg.name == name
    settings = OmegaConf.to_container(cfg)
    for key in ("_target_", "_convert_", "name", "cache_dir"):
        settings.pop(key)
    assert settings == judge_settings(name)
    edited = OmegaConf.merge(cfg, {"lr": 0.123, "seed": 7})  # a user edits conf/judge/<name>.yaml: nothing else to change
    OmegaConf.save(edited, tmp_path / f"{name}.yaml")
    monkeypatch.setattr(judge_settings_module, "JUDGE_CONF_DIR", tmp_path)
    judge_settings_module._defaults_of.cache_clear()
    try:
        assert judge_settings(name)["lr"] == 0.123 and judge_settings(name)["seed"] == 7
    finally:
        judge_settings_module._defaults_of.cache_clear()


def test_hydra_instantiates_a_judge_from_its_config(cache: Path) -> None:
    from hydra.utils import instantiate

    cfg = OmegaConf.load(CONF / "spoken_digits.yaml")
    judge, report = instantiate(cfg, cache_dir=str(cache), **SPEECH_TINY, seed=4)
    assert isinstance(judge, judges.SpokenDigitsJudge) and report["settings"]["takes"] == [0, 5]


# ---------------------------------------------------------------- the sheet-pose judge (Helminger Sprites)
SHEET_TINY = dict(train_characters=2, test_characters=2, max_steps=2, batch_size=2, width=4, feature_dim=8, frames_per_sequence=4)


def test_every_judge_module_has_its_config_and_every_config_its_module() -> None:
    assert set(JUDGES) == {path.stem for path in CONF.glob("*.yaml")}
    assert {"sprites", "sprites_sheet", "mnist", "spoken_digits"} <= set(JUDGES)


def test_sheet_judge_reads_any_number_of_poses_and_has_no_action_head() -> None:
    judge = build_judge("sprites_sheet", width=4, feature_dim=8)
    probs = judge.predict(torch.rand(2, 11, 3, 64, 64))
    for attribute in sprites_data.ATTRIBUTE_NAMES:
        _assert_probabilities(probs[attribute], (2, 11, 6))
        _assert_probabilities(probs[f"{attribute}_sequence"], (2, 6))
    assert set(probs) == set(judge.heads) and "action" not in probs
    assert judge.static_heads == tuple(sprites_data.ATTRIBUTE_NAMES) and judge.motion_heads == ()
    assert judge.loss_heads == tuple(sprites_data.ATTRIBUTE_NAMES)
    assert judge.features(torch.rand(2, 11, 3, 64, 64)).shape == (2, 8)  # appearance only
    targets = JUDGES["sprites_sheet"].targets(judge_settings("sprites_sheet"))
    for column, attribute in enumerate(sprites_data.HELMINGER.attributes):  # each head learns its own label column
        assert targets[attribute] == targets[f"{attribute}_sequence"] == ("attributes", column)


def test_each_sprites_judge_fits_only_its_own_variants() -> None:
    sheet, dsa = JUDGES["sprites_sheet"], JUDGES["sprites"]
    assert sheet.fit({"name": "sprites_helminger"}) == {}
    assert "sets of sheet poses" in sheet.fit({"name": "sprites"})
    assert "sprites_helminger" in dsa.fit({"name": "sprites_helminger"})  # the DSA judge knows 72 of the 178 poses
    assert dsa.fit({"name": "sprites_vdsm"}) == {"dataset": "sprites_vdsm"}


def test_sheet_judge_trains_on_random_poses_of_train_sheets_only(cache: Path, fit_calls: list) -> None:
    _, report = load_or_train_judge("sprites_sheet", cache, **SHEET_TINY, min_accuracy=None)
    (trained_on,) = fit_calls
    assert trained_on.split == "train" and trained_on.seq_len == 178  # whole sheets; the trainer draws poses
    characters = set(np.unique(trained_on.labels["character"]).tolist())
    assert characters <= set(sprites_data.split_characters("train", sprites_data.HELMINGER).tolist())
    assert report["training"]["steps"] == 2 and report["test"]["sequences"] == 2
    assert set(report["test"]["clean"]) == {*sprites_data.ATTRIBUTE_NAMES, *(f"{a}_sequence" for a in sprites_data.ATTRIBUTE_NAMES)}
    assert report["train_data"]["entry"] == "sprites_helminger-train"
