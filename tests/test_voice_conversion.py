"""Voice conversion (DSA §4.2, Fig. 6): spectrograms back to sound, the conversion's latents, and its judged numbers."""
import wave

import numpy as np
import pyro
import pytest
import torch
from torch import nn

import evaluation.plugins.voice_conversion as metric
from data import fsdd
from data.audio import Spectrogram, median_pitch, write_wav
from data.fsdd import SpokenDigitsDataset
from evaluation.facts import DataFacts
from evaluation.figure_plugins import FIGURES, FigureContext, why_not
from evaluation.figure_plugins import voice_conversion as figure
from evaluation.plugins.base import Context, MetricOptions
from evaluation.protocols import class_names
from inference.anneal import SiteGroups
from inference.latents import UseMeans, posterior_means, reconstruct, swap
from tests.test_speech_model import vector_guide, vector_model

pyro.enable_validation(True)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> SpokenDigitsDataset:
    """The test split of the smallest spoken-digits subset: take 0 of every speaker and digit (take 5 trains)."""
    return SpokenDigitsDataset("test", takes=[0, 5], cache_dir=tmp_path_factory.mktemp("cache"))


def plain(bins: int = fsdd.N_BINS) -> Spectrogram:
    """FSDD's STFT without normalisation."""
    return Spectrogram(fsdd.SAMPLE_RATE, fsdd.HOP, fsdd.WINDOW, fsdd.N_FFT, fsdd.LOG_FLOOR, np.zeros(bins), np.ones(bins))


def voiced(f0: float, seconds: float = 0.4) -> np.ndarray:
    """A vowel-like tone: the first 12 harmonics of ``f0`` with falling amplitudes."""
    t = np.arange(int(seconds * fsdd.SAMPLE_RATE)) / fsdd.SAMPLE_RATE
    return sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 13)) * 0.1


def test_magnitudes_undo_the_normalisation_and_log_of_the_stored_features(digits):
    row = digits.rows[3]
    raw = np.exp(digits.features[row].astype(np.float64)) - fsdd.LOG_FLOOR
    assert np.allclose(digits.spectrogram.magnitudes(digits[3]["x"].numpy()), np.maximum(raw, 0), rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match=r"must be \(T, 129\)"):
        digits.spectrogram.magnitudes(np.zeros((20, 12)))


def test_an_utterances_segments_and_recording_are_the_ones_its_features_came_from(digits):
    utterance = int(digits.labels["utterance"][np.flatnonzero(digits.labels["segment"] == 2)[0]])  # one of 3+ segments
    rows = digits.segments_of(utterance)
    assert len(rows) >= 3
    assert list(digits.labels["segment"][rows]) == list(range(len(rows))) and set(digits.labels["utterance"][rows]) == {utterance}
    spectrum = fsdd.utterance_features(digits.recording(utterance) + 0.25)  # the DC offset is removed again
    assert np.allclose(spectrum[: fsdd.SEGMENT_FRAMES * len(rows)], np.concatenate([digits.features[digits.rows[r]] for r in rows]), atol=1e-5)
    assert len(digits.segments_of(10**6)) == 0


@pytest.mark.parametrize("f0", [110.0, 160.0])
def test_griffin_lim_sound_of_a_spectrogram_keeps_its_pitch(f0, tmp_path):
    spectrogram = plain()
    frames = fsdd.log_spectrogram(voiced(f0))
    sound = spectrogram.waveform(frames)
    assert sound.shape == ((len(frames) - 1) * fsdd.HOP,)
    rebuilt = np.exp(fsdd.log_spectrogram(np.pad(sound, (fsdd.HOP // 2, fsdd.HOP))[: len(frames) * fsdd.HOP]))[2:-2]
    error = np.linalg.norm(rebuilt - np.exp(frames)[2:-2]) / np.linalg.norm(np.exp(frames)[2:-2])
    assert error < 0.35  # Griffin-Lim: consistent magnitudes, not the original phase
    assert abs(median_pitch([spectrogram.pitch(sound)]) - f0) < 0.04 * f0
    write_wav(tmp_path / "tone.wav", sound, fsdd.SAMPLE_RATE)
    with wave.open(str(tmp_path / "tone.wav")) as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getnframes()) == (8000, 1, len(sound))
        pcm = np.frombuffer(reader.readframes(len(sound)), "<i2")
    assert abs(np.abs(pcm).max() - 0.9 * 32767) <= 1


def test_the_most_voiced_utterance_of_another_digit_is_chosen():
    track = lambda voiced: np.r_[np.full(voiced, 120.0), np.full(5, np.nan)]  # noqa: E731
    tracks = [(10, 0, track(2)), (11, 1, track(4)), (12, 2, track(3))]
    assert figure.most_voiced(tracks) == (11, 1) and figure.most_voiced(tracks, avoid_digit=1) == (12, 2)
    assert figure.most_voiced(tracks[1:2], avoid_digit=1) == (11, 1)  # no other digit: the only one


def test_conversion_pairs_put_every_segment_once_into_each_other_speakers_voice():
    speakers = np.array([0, 0, 1, 2, 2, 2])
    voice, words = metric.conversion_pairs(speakers)
    assert len(voice) == len(speakers) * 2  # each segment into the two other speakers' voices
    for b in range(len(speakers)):
        donors = speakers[voice[words == b]]
        assert sorted(donors) == sorted(set(range(3)) - {speakers[b]})
    voice, words = metric.conversion_pairs(speakers, count=2)  # the words of the first two, voices from all
    assert list(words) == [0, 0, 1, 1] and sorted(speakers[voice]) == [1, 1, 2, 2]


@torch.no_grad()
def test_in_voice_of_decodes_the_words_latents_with_the_voice_utterances_mean_static_latent():
    torch.manual_seed(0)
    model = vector_model(16, 4)
    guide, groups = vector_guide(model, "full").eval(), SiteGroups.of(model)
    voice, words = torch.randn(3, 4, 16), torch.randn(2, 4, 16)
    converted = figure.in_voice_of(model, guide, groups, voice, words)
    means = posterior_means(guide, words)
    means["f"] = posterior_means(guide, voice)["f"].mean(0, keepdim=True).expand(2, -1)
    with UseMeans():
        expected = pyro.poutine.condition(model, data=means)(None, batch_size=2, seq_len=4)
    assert torch.allclose(converted, expected, atol=1e-6)
    single = voice[:1]
    assert torch.allclose(figure.in_voice_of(model, guide, groups, single.expand(2, -1, -1), words), swap(model, guide, groups, single.expand(2, -1, -1), words), atol=1e-6)
    assert torch.allclose(figure.in_voice_of(model, guide, groups, words[:1], words[:1]), reconstruct(model, guide, words[:1]), atol=1e-6)


class Parts(torch.utils.data.Dataset):
    """Segments whose first feature is the speaker and second the digit (constant in time), with labels."""

    labels_info = {"speaker": {"names": ("p", "q", "r")}}

    def __init__(self) -> None:
        self.speaker = np.array([0, 0, 1, 1, 2, 2, 2])
        self.digit = np.array([0, 1, 2, 3, 4, 0, 1])
        self.labels = {"speaker": self.speaker, "digit": self.digit}

    def __len__(self) -> int:
        return len(self.speaker)

    def __getitem__(self, i: int) -> dict:
        x = torch.zeros(3, 2)
        x[:, 0], x[:, 1] = float(self.speaker[i]), float(self.digit[i])
        return {"x": x, "speaker": torch.tensor(int(self.speaker[i])), "digit": torch.tensor(int(self.digit[i]))}


class PartsJudge(nn.Module):
    """Reads the speaker from feature 0 and the digit from feature 1 (rounded), as one-hot probabilities."""

    static_heads, motion_heads = ("speaker",), ("digit",)

    def predict_sequences(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        classes = x.mean(1).round().long()
        return {"speaker": nn.functional.one_hot(classes[:, 0], 3).float(), "digit": nn.functional.one_hot(classes[:, 1], 5).float()}


def judged_conversion(monkeypatch, converted) -> dict:
    """The metric on Parts with a stand-in conversion ``converted(a, b)`` and reconstructions that are the input."""
    monkeypatch.setattr(metric, "swap", lambda model, guide, groups, a, b, motion: converted(a, b))
    monkeypatch.setattr(metric, "reconstruct", lambda model, guide, x: x)
    groups = SiteGroups({"static": r"f", "dynamics": r"z_\d+"})
    ctx = Context(None, DataFacts(), None, None, groups, Parts(), 7, MetricOptions(batch_size=4), "cpu", PartsJudge())
    return metric.voice_conversion(ctx)


def test_a_perfect_conversion_is_heard_as_the_voice_donor_saying_the_words_donors_digit(monkeypatch):
    found = judged_conversion(monkeypatch, lambda a, b: torch.stack([a[..., 0], b[..., 1]], -1))  # a's voice, b's words
    assert found["pairs"] == 7 * 2 and found["conversion_rate"] == 1.0 and found["words_kept"] == 1.0
    assert found["words_of_voice_donor"] == 0.0
    assert found["by_speaker_pair"]["p"] == {"q": 1.0, "r": 1.0} and set(found["by_speaker_pair"]) == {"p", "q", "r"}
    assert found["judge_on_real"] == {"speaker": 1.0, "digit": 1.0}


def test_a_conversion_that_keeps_the_words_donors_voice_scores_zero_and_one_that_copies_a_shows_the_leak(monkeypatch):
    assert judged_conversion(monkeypatch, lambda a, b: b)["conversion_rate"] == 0.0
    copied = judged_conversion(monkeypatch, lambda a, b: a)  # f carries the words too
    assert copied["conversion_rate"] == 1.0 and copied["words_of_voice_donor"] == 1.0 and copied["words_kept"] < 0.5


def test_the_figure_converts_between_the_highest_and_lowest_pitched_test_speakers(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(figure, "PITCH_UTTERANCES", 2)
    torch.manual_seed(0)
    model = vector_model(fsdd.N_BINS, fsdd.SEGMENT_FRAMES)
    guide, groups = vector_guide(model, "factorised").eval(), SiteGroups.of(model)
    ctx = FigureContext(tmp_path, tmp_path, model, guide, groups, digits, None, DataFacts())
    assert why_not(FIGURES["voice_conversion"], ctx) is None
    drawn = FIGURES["voice_conversion"].draw(ctx)
    assert set(drawn.files) == {"voice_conversion.png", *(f"voice_{k}.wav" for k in ("a", "b", "b_words_a_voice", "a_words_b_voice"))}
    assert all((tmp_path / name).stat().st_size > 1000 for name in drawn.files)
    pitch = drawn.checks["speaker_pitch_hz"]
    assert len(pitch) == 6 and drawn.checks["voices"] == {"a": max(pitch, key=pitch.get), "b": min(pitch, key=pitch.get)}
    assert drawn.checks["digits"]["a"] != drawn.checks["digits"]["b"] and drawn.checks["median_f0_hz"]["a"] > 0  # a is voiced
    with wave.open(str(tmp_path / "voice_a.wav")) as reader:  # (a) is the real utterance's spectrogram, end to end
        listed = figure.utterances_by_speaker(digits)[fsdd.SPEAKERS.index(drawn.checks["voices"]["a"])][:2]
        a = next(u for u, d in listed if d == drawn.checks["digits"]["a"])
        assert reader.getnframes() == (fsdd.SEGMENT_FRAMES * len(digits.segments_of(a)) - 1) * fsdd.HOP


def test_the_figure_is_not_drawn_for_image_data_and_says_when_librosa_is_missing(digits, tmp_path, monkeypatch):
    model = vector_model(fsdd.N_BINS, fsdd.SEGMENT_FRAMES)
    guide, groups = vector_guide(model, "factorised"), SiteGroups.of(model)
    images = FigureContext(tmp_path, tmp_path, model, guide, groups, Parts(), None, DataFacts())
    assert "not spectrograms" in why_not(FIGURES["voice_conversion"], images)

    def missing():
        raise figure.AudioUnavailable("sound needs librosa, the optional audio extra: pip install -e '.[audio]'")
    monkeypatch.setattr(figure, "librosa", missing)
    speech = FigureContext(tmp_path, tmp_path, model, guide, groups, digits, None, DataFacts())
    assert "[audio]" in why_not(FIGURES["voice_conversion"], speech)


def test_utterances_are_listed_round_robin_over_digits_and_class_names_fall_back_to_numbers():
    class Labels:
        labels_info = {"speaker": {"names": ("p", "q")}}
        labels = {"utterance": np.array([5, 5, 6, 7, 8, 9]), "speaker": np.array([0, 0, 0, 0, 0, 1]),
                  "digit": np.array([3, 3, 3, 4, 3, 1])}
    listed = figure.utterances_by_speaker(Labels())
    assert listed == {0: [(5, 3), (7, 4), (6, 3), (8, 3)], 1: [(9, 1)]}  # every digit once before any twice
    assert class_names(Labels(), "speaker", 2) == ["p", "q"] and class_names(Labels(), "speaker", 3) == ["0", "1", "2"]
    assert class_names(Labels(), "digit", 2) == ["0", "1"]
