"""Tests of the spoken-digits (FSDD) speech data set and the speaker-verification trial lists."""

from __future__ import annotations

import hashlib
import io
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import data
from data import fsdd
from data.errors import DataError
from data.fsdd import SpokenDigitsDataset, log_spectrogram
from data.speech_trials import build_trials, trials_for_dataset

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "fsdd"
TAKES = [1, 2, 5]  # 180 recordings; includes the short 6_yweweler_1, 1_theo_2 and 2_nicolas_5
SHORT = {"6_yweweler_1.wav", "1_theo_2.wav", "2_nicolas_5.wav"}
NAMES = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seqzoo-cache")


@pytest.fixture(scope="module")
def splits(cache_dir: Path) -> dict[str, SpokenDigitsDataset]:
    return {s: SpokenDigitsDataset(s, takes=TAKES, cache_dir=cache_dir) for s in ("train", "test")}


def read_wav(path: Path) -> np.ndarray:
    """Read a wav independently of data/fsdd.py: float samples in [-1, 1)."""
    with wave.open(str(path)) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), "<i2") / 32768.0


# --- spectrogram ---------------------------------------------------------------------------------


@pytest.mark.parametrize("frequency, expected_bin", [(1000.0, 32), (440.0, 14), (3000.0, 96)])
def test_tone_peaks_at_its_bin(frequency: float, expected_bin: int) -> None:
    tone = 0.5 * np.sin(2 * np.pi * frequency * np.arange(4000) / 8000)  # 0.5 s
    spectrum = log_spectrogram(tone)
    assert spectrum.shape == (50, 129)  # one frame per 10 ms, 129 bins
    assert (spectrum.argmax(axis=1) == expected_bin).all()  # bin spacing 8000 / 256 = 31.25 Hz


def test_spectrogram_frame_count_and_silence_floor() -> None:
    assert log_spectrogram(np.zeros(1599)).shape == (19, 129)
    assert np.allclose(log_spectrogram(np.zeros(1600)), np.log(fsdd.LOG_FLOOR))
    assert log_spectrogram(np.zeros(50)).shape == (0, 129)


# --- real recordings ---------------------------------------------------------------------------------


def test_items_shapes_and_values(splits: dict[str, SpokenDigitsDataset]) -> None:
    train = splits["train"]
    item = train[0]
    assert set(item) == {"x", "speaker", "digit", "utterance", "segment"}
    assert item["x"].shape == (20, 129) and item["x"].dtype == torch.float32
    assert train.frame_shape == (129,) and train.seq_len == 20
    assert all(v.dtype == torch.long and v.shape == () for k, v in item.items() if k != "x")
    x = torch.stack([train[i]["x"] for i in range(len(train))])
    assert torch.isfinite(x).all()
    # per-bin normalisation with training statistics: train frames have mean 0, std 1 in every bin
    assert x.mean(dim=(0, 1)).abs().max() < 1e-3 and (x.std(dim=(0, 1)) - 1).abs().max() < 1e-2
    assert np.array_equal(splits["test"].mean, train.mean) and np.array_equal(splits["test"].std, train.std)


def test_segments_match_their_recordings(splits: dict[str, SpokenDigitsDataset]) -> None:
    for dataset in splits.values():
        for index in range(0, len(dataset), 7):
            item = dataset[index]
            speaker, digit, utterance = int(item["speaker"]), int(item["digit"]), int(item["utterance"])
            take = utterance % 50
            assert utterance // 50 == speaker * 10 + digit
            path = RAW / "recordings" / f"{digit}_{NAMES[speaker]}_{take}.wav"
            samples = read_wav(path)
            samples = samples - samples.mean()
            samples = np.pad(samples, (0, max(0, 1600 - len(samples))))
            start = 20 * int(item["segment"])
            expected = log_spectrogram(samples)[start : start + 20]
            restored = item["x"].numpy() * dataset.std + dataset.mean
            np.testing.assert_allclose(restored, expected, atol=1e-4)


def test_every_utterance_has_segments_and_short_ones_are_padded_or_dropped(
    splits: dict[str, SpokenDigitsDataset], cache_dir: Path
) -> None:
    both = np.concatenate([splits["train"].labels["utterance"], splits["test"].labels["utterance"]])
    assert len(np.unique(both)) == 6 * 10 * len(TAKES)
    dropped = SpokenDigitsDataset("train", takes=TAKES, short_utterances="drop", cache_dir=cache_dir)
    dropped_test = SpokenDigitsDataset("test", takes=TAKES, short_utterances="drop", cache_dir=cache_dir)
    kept = np.concatenate([dropped.labels["utterance"], dropped_test.labels["utterance"]])
    missing = sorted(set(both.tolist()) - set(kept.tolist()))
    names = {f"{(u // 50) % 10}_{NAMES[u // 500]}_{u % 50}.wav" for u in missing}
    assert names == SHORT


def test_split_by_take_never_leaks(splits: dict[str, SpokenDigitsDataset]) -> None:
    train, test = splits["train"], splits["test"]
    assert set(np.unique(train.labels["take"])) == {5} and set(np.unique(test.labels["take"])) == {1, 2}
    assert not set(train.labels["utterance"].tolist()) & set(test.labels["utterance"].tolist())
    assert set(np.unique(test.labels["speaker"])) == set(range(6))  # verification on unseen utterances


def test_split_by_speaker_never_leaks(cache_dir: Path) -> None:
    options = dict(takes=TAKES, split_by="speaker", test_speakers=["jackson", "theo"], cache_dir=cache_dir)
    train, test = SpokenDigitsDataset("train", **options), SpokenDigitsDataset("test", **options)
    assert set(np.unique(test.labels["speaker"])) == {1, 4}
    assert not set(np.unique(train.labels["speaker"])) & {1, 4}
    assert len(train) + len(test) == len(SpokenDigitsDataset("train", takes=TAKES, cache_dir=cache_dir)) + len(
        SpokenDigitsDataset("test", takes=TAKES, cache_dir=cache_dir)
    )


def test_overlapping_segments(cache_dir: Path) -> None:
    half = SpokenDigitsDataset("test", takes=[1, 5], segment_hop=10, normalise=False, cache_dir=cache_dir)
    full = SpokenDigitsDataset("test", takes=[1, 5], normalise=False, cache_dir=cache_dir)
    assert len(half) > len(full)
    successors = [i for i in range(len(half) - 1) if half.labels["segment"][i + 1] == half.labels["segment"][i] + 1]
    assert successors
    for i in successors[:20]:
        assert torch.equal(half[i]["x"][10:], half[i + 1]["x"][:10])  # hop of 10 frames


def test_cache_is_reused(splits: dict[str, SpokenDigitsDataset], cache_dir: Path, monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(fsdd, "build_features", fail)
    again = SpokenDigitsDataset("train", takes=TAKES, cache_dir=cache_dir)
    assert torch.equal(again[3]["x"], splits["train"][3]["x"])


# --- raw files, download, errors ------------------------------------------------------------------


def copy_raw(dest: Path, takes: list[int]) -> Path:
    (dest / "recordings").mkdir(parents=True)
    for speaker, digit, take in fsdd.selected_files(takes):
        rel = fsdd.file_name(speaker, digit, take)
        shutil.copyfile(RAW / rel, dest / rel)
    return dest


def test_missing_or_altered_recording_is_a_data_error(tmp_path: Path) -> None:
    raw = copy_raw(tmp_path / "raw", [3])
    (raw / "recordings" / "4_lucas_3.wav").unlink()
    with pytest.raises(DataError, match="missing FSDD recording .*4_lucas_3.wav"):
        SpokenDigitsDataset("test", takes=[3], test_takes=[3], raw_dir=raw, cache_dir=tmp_path / "c")
    shutil.copyfile(RAW / "recordings" / "4_lucas_3.wav", raw / "recordings" / "4_lucas_3.wav")
    wav = raw / "recordings" / "7_theo_3.wav"
    wav.write_bytes(wav.read_bytes()[:-2] + b"\x00\x01")
    with pytest.raises(DataError, match="7_theo_3.wav fails its SHA256SUMS check"):
        fsdd.load_features(takes=[3], raw_dir=raw, cache_dir=tmp_path / "c")


def test_vendored_files_match_checksums() -> None:
    sums = fsdd.read_checksums()
    assert len(sums) == 3000
    for rel in ("recordings/0_george_0.wav", "recordings/9_yweweler_49.wav"):
        assert hashlib.sha256((RAW / rel).read_bytes()).hexdigest() == sums[rel]
    assert (RAW / "LICENSE-CC-BY-SA-4.0.txt").is_file() and (RAW / "speakers.tsv").is_file()


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_with_faked_network(tmp_path: Path, monkeypatch) -> None:
    requested = []

    def fake_urlopen(url: str, timeout: float = 0):
        requested.append(url)
        rel = url.split("/26eb9aaf76e81b692f806f9140c2d2777410d7a1/")[1]
        return FakeResponse((RAW / rel).read_bytes())

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    dest = tmp_path / "fsdd"
    dataset = SpokenDigitsDataset("test", takes=[0, 7], raw_dir=dest, download=True, cache_dir=tmp_path / "c")
    assert len(requested) == 120 and requested[0].startswith("https://raw.githubusercontent.com/Jakobovski/")
    assert (dest / "recordings" / "3_nicolas_7.wav").read_bytes() == (RAW / "recordings/3_nicolas_7.wav").read_bytes()
    assert len(dataset) > 0
    requested.clear()
    fsdd.download_recordings(dest, takes=[0, 7])
    assert requested == []  # verified files are not fetched again

    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout=0: FakeResponse(b"not a wav"))
    with pytest.raises(DataError, match="does not match its SHA256SUMS"):
        fsdd.download_recordings(tmp_path / "other", takes=[0])

    def offline(url: str, timeout: float = 0):
        raise OSError("network unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DataError, match="could not download"):
        fsdd.download_recordings(tmp_path / "third", takes=[0])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"split": "valid"}, "unknown split"),
        ({"split_by": "digit"}, "split_by must be one of"),
        ({"split_by": "speaker", "test_speakers": ["alice"]}, "test_speakers must name"),
        ({"takes": [50]}, "takes must be"),
        ({"takes": [5, 6]}, "the test split is empty"),
        ({"segment_hop": 0}, "segment_hop must be"),
        ({"short_utterances": "loop"}, "short_utterances must be"),
        ({"download": True}, "download=true needs raw_dir"),
    ],
)
def test_bad_options_are_data_errors(options: dict, message: str, cache_dir: Path) -> None:
    split = options.pop("split", "train")
    options.setdefault("takes", [1, 5])
    with pytest.raises(DataError, match=message):
        SpokenDigitsDataset(split, cache_dir=cache_dir, **options)


def test_registered_and_configured(cache_dir: Path) -> None:
    cfg = OmegaConf.load(ROOT / "conf" / "data" / "spoken_digits.yaml")
    cfg.cache_dir = str(cache_dir)
    cfg.takes = TAKES
    dataset = instantiate(cfg, split="test")
    assert isinstance(dataset, SpokenDigitsDataset) and data.DATASETS["spoken_digits"] is SpokenDigitsDataset
    assert set(np.unique(dataset.labels["take"])) == {1, 2}


# --- trial lists ------------------------------------------------------------------------------------


def test_trials_from_the_test_split(splits: dict[str, SpokenDigitsDataset]) -> None:
    test = splits["test"]
    trials = trials_for_dataset(test, mode="balanced", seed=3)
    utterances, speakers = test.utterance_speakers()
    speaker_of = dict(zip(utterances.tolist(), speakers.tolist()))
    assert len(trials["enrol"]) > 0 and (trials["enrol"] != trials["test"]).all()
    expected = [speaker_of[a] == speaker_of[b] for a, b in zip(trials["enrol"], trials["test"])]
    assert np.array_equal(trials["same_speaker"], expected)
    assert trials["same_speaker"].sum() == (~trials["same_speaker"]).sum()  # balanced
    assert set(trials["enrol"].tolist()) | set(trials["test"].tolist()) <= set(test.labels["utterance"].tolist())
    again = trials_for_dataset(test, mode="balanced", seed=3)
    assert all(np.array_equal(trials[k], again[k]) for k in trials)
    other = trials_for_dataset(test, mode="balanced", seed=4)
    assert not np.array_equal(trials["test"], other["test"]) or not np.array_equal(trials["enrol"], other["enrol"])


def test_all_pairs_and_caps() -> None:
    utterances = np.array([10, 10, 11, 12, 12, 13])  # per segment
    speakers = np.array([0, 0, 0, 1, 1, 1])
    trials = build_trials(utterances, speakers, mode="all")
    pairs = list(zip(trials["enrol"].tolist(), trials["test"].tolist()))
    assert pairs == [(10, 11), (10, 12), (10, 13), (11, 12), (11, 13), (12, 13)]
    assert trials["same_speaker"].tolist() == [True, False, False, False, False, True]
    capped = build_trials(utterances, speakers, mode="balanced", max_trials=2, seed=0)
    assert capped["same_speaker"].tolist().count(True) == 1 and len(capped["enrol"]) == 2
    assert len(build_trials(utterances, speakers, mode="all", max_trials=4)["enrol"]) == 4


def test_trial_errors() -> None:
    with pytest.raises(DataError, match="more than one speaker"):
        build_trials(np.array([1, 1]), np.array([0, 1]))
    with pytest.raises(DataError, match="both same- and different-speaker"):
        build_trials(np.array([1, 2, 3]), np.array([0, 0, 0]))
    with pytest.raises(DataError, match="trial mode"):
        build_trials(np.array([1, 2]), np.array([0, 1]), mode="half")
    with pytest.raises(DataError, match="at least 2 utterances"):
        build_trials(np.array([1]), np.array([0]))
