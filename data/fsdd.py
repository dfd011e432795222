"""Spoken digits (FSDD) as the speech data set, in place of TIMIT (Li & Mandt 2018 §4.2).

DSA §4.2 (following Hsu et al. 2017) cuts speech into 200 ms sub-sequences and
describes each by a log-magnitude spectrum computed every 10 ms, so T = 20. We
do the same on the Free Spoken Digit Dataset (8 kHz, 6 speakers x 10 digits x
50 takes, vendored in data/raw/fsdd/):

* waveform: int16 / 32768, per-utterance mean removed (the recordings carry DC
  offsets of up to 0.8 % full scale that differ by speaker/session, a
  non-acoustic speaker cue);
* frames: one every ``HOP`` = 80 samples (10 ms). Frame t describes the hop
  [80 t, 80 t + 80) through a 25 ms periodic Hann window (200 samples) centred
  on it, zero-padded at the utterance edges; an utterance of n samples gives
  n // 80 frames, so 20 frames are exactly 200 ms of signal;
* spectrum: 256-point FFT of the windowed frame -> 129 bins (0..4 kHz, 31.25 Hz
  apart), ``log(|X| + 1e-4)``. 25 ms is the usual speech analysis window (the
  one of Hsu et al. 2017); 256 is the next power of two, and keeping all 129
  bins up to Nyquist keeps the pitch harmonics of these (male) voices resolved.
  The floor 1e-4 sits at about the 0.1th percentile of |X| on FSDD, near the
  int16 quantisation noise;
* segments: consecutive 20-frame windows starting every ``segment_hop`` frames
  (20 = the paper's non-overlapping sub-sequences; 10 = half-overlapping). The
  last < 20 frames of an utterance are dropped. Utterances shorter than 200 ms
  (42 of 3000) are zero-padded at the end to 200 ms (``short_utterances="pad"``,
  so every utterance has a segment) or left out (``"drop"``);
* normalisation: per frequency bin, mean and standard deviation over all frames
  of the *training* split only, applied to both splits.

The cache entry ``spoken_digits-<key>`` holds the unnormalised features of all
selected files; splits and normalisation are cheap and computed on load.
"""

from __future__ import annotations

import functools
import io
import os
import re
import wave
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .audio import Spectrogram
from .cache import load_or_build
from . import raw_files
from .errors import DataError

RAW_DIR = Path(__file__).resolve().parent / "raw" / "fsdd"
GENERATOR_VERSION = 1

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
N_DIGITS = 10
N_TAKES = 50
OFFICIAL_TEST_TAKES = tuple(range(5))  # upstream README: takes 0-4 test, 5-49 train
DEFAULT_TEST_SPEAKERS = ("lucas", "theo")  # their accents (German, US) stay represented in training

SAMPLE_RATE = 8000
HOP = 80  # 10 ms (§4.2)
WINDOW = 200  # 25 ms
N_FFT = 256
N_BINS = N_FFT // 2 + 1
LOG_FLOOR = 1e-4
SEGMENT_FRAMES = 20  # 200 ms (§4.2: T = 20)
SHORT_POLICIES = ("pad", "drop")
SPLIT_BY = ("take", "speaker")
SPLITS = ("train", "test")
LABEL_KEYS = ("speaker", "digit", "utterance", "segment")
FILE_RE = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")

UPSTREAM_URL = (
    "https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/"
    "26eb9aaf76e81b692f806f9140c2d2777410d7a1/{path}"
)


def file_name(speaker: int, digit: int, take: int) -> str:
    """Return the upstream file name of a recording, e.g. recordings/3_theo_12.wav."""
    return f"recordings/{digit}_{SPEAKERS[speaker]}_{take}.wav"


def utterance_id(speaker: int, digit: int, take: int) -> int:
    """Return the global utterance id (speaker * 10 + digit) * 50 + take, in 0..2999."""
    return (speaker * N_DIGITS + digit) * N_TAKES + take


def parse_file_name(name: str) -> tuple[int, int, int]:
    """Return (speaker, digit, take) of an upstream file name such as '3_theo_12.wav'."""
    match = FILE_RE.match(Path(name).name)
    if not match or match.group(2) not in SPEAKERS or int(match.group(3)) >= N_TAKES:
        raise DataError(f"not an FSDD recording name: {name!r} (want <digit>_<speaker>_<take>.wav)")
    return SPEAKERS.index(match.group(2)), int(match.group(1)), int(match.group(3))


# --- features -----------------------------------------------------------------------------------


def hann_window(length: int = WINDOW) -> np.ndarray:
    """Return the periodic Hann window of ``length`` samples."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def log_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Return float32 (len(samples) // HOP, N_BINS) log-magnitude spectra, one per 10 ms hop (module docstring)."""
    samples = np.asarray(samples, dtype=np.float64)
    n_frames = len(samples) // HOP
    if n_frames == 0:
        return np.zeros((0, N_BINS), dtype=np.float32)
    margin = (WINDOW - HOP) // 2  # window centred on its hop
    padded = np.pad(samples[: n_frames * HOP], (margin, WINDOW - HOP - margin))
    frames = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:n_frames]
    spectrum = np.fft.rfft(frames * hann_window(), n=N_FFT, axis=-1)
    return np.log(np.abs(spectrum) + LOG_FLOOR).astype(np.float32)


def decode_wav(payload: bytes, name: str) -> np.ndarray:
    """Decode a 16-bit mono 8 kHz PCM wav into float64 samples in [-1, 1)."""
    try:
        with wave.open(io.BytesIO(payload)) as reader:
            fmt = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth())
            raw = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as err:
        raise DataError(f"cannot decode {name}: {err}") from err
    if fmt != (SAMPLE_RATE, 1, 2):
        raise DataError(f"{name} is {fmt[0]} Hz, {fmt[1]} channel(s), {8 * fmt[2]} bit; expected 8000 Hz mono 16 bit")
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0


def utterance_features(samples: np.ndarray, short_utterances: str = "pad") -> np.ndarray:
    """Remove DC, pad short utterances to 200 ms if asked, and return their log spectrogram."""
    samples = samples - samples.mean() if len(samples) else samples
    minimum = SEGMENT_FRAMES * HOP
    if len(samples) < minimum and short_utterances == "pad":
        samples = np.pad(samples, (0, minimum - len(samples)))
    return log_spectrogram(samples)


def segment_starts(n_frames: int, segment_hop: int) -> range:
    """Return the start frames of the 20-frame segments of an utterance of ``n_frames`` frames."""
    return range(0, n_frames - SEGMENT_FRAMES + 1, segment_hop)


# --- vendored raw files and download --------------------------------------------------------------


def read_checksums(raw_dir: Path = RAW_DIR) -> dict[str, str]:
    """Return {relative path: sha256} from a SHA256SUMS file."""
    return raw_files.read_checksums(raw_dir, "data/raw/fsdd")


def selected_files(takes: Sequence[int]) -> list[tuple[int, int, int]]:
    """Return (speaker, digit, take) of the selected recordings, sorted by speaker, digit, take."""
    return [(s, d, t) for s in range(len(SPEAKERS)) for d in range(N_DIGITS) for t in takes]


def recordings_digest(files: Iterable[tuple[int, int, int]]) -> str:
    """Return a digest of the expected checksums of the given recordings, for cache keys."""
    return raw_files.listed_digest(read_checksums(RAW_DIR), (file_name(*f) for f in files))


def verified_bytes(raw_dir: Path, rel: str, sums: dict[str, str]) -> bytes:
    """Read one recording and check it against the repository's SHA256SUMS."""
    return raw_files.verified_bytes(raw_dir / rel, sums.get(rel), "FSDD recording", "restore data/raw/fsdd from git or use download=true")


def download_recordings(
    dest: str | os.PathLike[str], takes: Sequence[int] | None = None, url: str = UPSTREAM_URL
) -> Path:
    """Fetch missing or altered FSDD recordings from the pinned upstream commit into ``dest``, verified.

    The expected hashes always come from this repository's data/raw/fsdd/SHA256SUMS.
    """
    dest = Path(dest)
    sums = read_checksums(RAW_DIR)
    wanted = [file_name(*f) for f in selected_files(check_takes(takes))]
    for rel in wanted:
        if not raw_files.holds(dest / rel, sums[rel]):
            raw_files.write_atomically(dest / rel, raw_files.download_verified([url.format(path=rel)], sums[rel], rel))
    (dest / "SHA256SUMS").write_text("".join(f"{sums[rel]}  {rel}\n" for rel in sorted(sums)))
    return dest


# --- building the cache entry --------------------------------------------------------------------


def check_takes(takes: Sequence[int] | None) -> tuple[int, ...]:
    """Return the sorted distinct takes of the size knob (None = all 50)."""
    if takes is None:
        return tuple(range(N_TAKES))
    if isinstance(takes, (str, bytes)) or not isinstance(takes, Iterable):
        raise DataError(f"takes must be a list of ints in 0..{N_TAKES - 1} or null, got {takes!r}")
    values = list(takes)
    if not values or not all(_is_int(t) and 0 <= t < N_TAKES for t in values):
        raise DataError(f"takes must be a non-empty list of ints in 0..{N_TAKES - 1}, got {values!r}")
    return tuple(sorted({int(t) for t in values}))


def _is_int(value: Any) -> bool:
    """Return whether value is an int (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def build_features(
    takes: Sequence[int], segment_hop: int, short_utterances: str, raw_dir: Path = RAW_DIR
) -> dict[str, np.ndarray]:
    """Read, verify and featurise the selected recordings into unnormalised segments plus labels."""
    sums = read_checksums(RAW_DIR)
    features, labels = [], []
    for speaker, digit, take in selected_files(takes):
        rel = file_name(speaker, digit, take)
        spectrogram = utterance_features(decode_wav(verified_bytes(raw_dir, rel, sums), rel), short_utterances)
        for index, start in enumerate(segment_starts(len(spectrogram), segment_hop)):
            features.append(spectrogram[start : start + SEGMENT_FRAMES])
            labels.append((speaker, digit, utterance_id(speaker, digit, take), index, take))
    if not features:
        raise DataError("the selected FSDD recordings give no 200 ms segment")
    table = np.array(labels, dtype=np.int64)
    arrays = {"features": np.stack(features)}
    arrays.update({key: np.ascontiguousarray(table[:, i]) for i, key in enumerate(LABEL_KEYS + ("take",))})
    return arrays


def feature_settings(takes: Sequence[int], segment_hop: int, short_utterances: str) -> dict[str, Any]:
    """Return the settings that key the features' cache entry."""
    return {
        "dataset": "spoken_digits",
        "source": "FSDD@26eb9aa, DSA 2018 §4.2 preprocessing (data/fsdd.py)",
        "version": GENERATOR_VERSION,
        "features": {"rate": SAMPLE_RATE, "hop": HOP, "window": WINDOW, "n_fft": N_FFT, "floor": LOG_FLOOR},
        "segment_frames": SEGMENT_FRAMES,
        "segment_hop": segment_hop,
        "short_utterances": short_utterances,
        "takes": list(takes),
        "recordings": recordings_digest(selected_files(takes)),
    }


def load_features(
    takes: Sequence[int] | None = None,
    segment_hop: int = SEGMENT_FRAMES,
    short_utterances: str = "pad",
    cache_dir: str | os.PathLike[str] | None = None,
    raw_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Return the unnormalised segments of the selected recordings from the cache, building them on first use."""
    chosen = check_takes(takes)
    if not _is_int(segment_hop) or not 1 <= segment_hop <= SEGMENT_FRAMES:
        raise DataError(f"segment_hop must be an int in 1..{SEGMENT_FRAMES}, got {segment_hop!r}")
    if short_utterances not in SHORT_POLICIES:
        raise DataError(f"short_utterances must be one of {', '.join(SHORT_POLICIES)}, got {short_utterances!r}")
    raw = Path(raw_dir) if raw_dir is not None else RAW_DIR
    settings = feature_settings(chosen, int(segment_hop), short_utterances)
    build = lambda: build_features(chosen, int(segment_hop), short_utterances, raw)  # noqa: E731
    return load_or_build("spoken_digits", settings, build, cache_dir)


# --- splits and the dataset -------------------------------------------------------------------------


def held_out_mask(
    arrays: dict[str, np.ndarray], split_by: str, test_takes: Sequence[int], test_speakers: Sequence[str]
) -> np.ndarray:
    """Return a boolean mask of the test segments: by take (official split) or by held-out speaker."""
    if split_by == "take":
        return np.isin(arrays["take"], check_takes(test_takes))
    if split_by == "speaker":
        names = [test_speakers] if isinstance(test_speakers, str) else list(test_speakers)
        unknown = [n for n in names if n not in SPEAKERS]
        if unknown or not names:
            raise DataError(f"test_speakers must name some of {', '.join(SPEAKERS)}, got {names!r}")
        return np.isin(arrays["speaker"], [SPEAKERS.index(n) for n in names])
    raise DataError(f"split_by must be one of {', '.join(SPLIT_BY)}, got {split_by!r}")


def feature_stats(features: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return float32 per-bin mean and standard deviation over all frames of the given segments."""
    frames = np.asarray(features[rows], dtype=np.float64).reshape(-1, features.shape[-1])
    return frames.mean(0).astype(np.float32), np.maximum(frames.std(0), 1e-6).astype(np.float32)


LABELS_INFO = {
    "speaker": {"num_classes": len(SPEAKERS), "names": SPEAKERS, "factor": "static"},
    "digit": {"num_classes": N_DIGITS, "factor": "content"},
    "utterance": {"num_classes": len(SPEAKERS) * N_DIGITS * N_TAKES, "formula": "(speaker * 10 + digit) * 50 + take"},
    "segment": {"description": "index of the 200 ms segment within its utterance"},
}


class SpokenDigitsDataset(Dataset):
    """FSDD split as 200 ms segments: {"x": float32 (20, 129) log spectra, speaker, digit, utterance, segment}."""

    name = "spoken_digits"
    frame_shape = (N_BINS,)
    seq_len = SEGMENT_FRAMES
    labels_info = LABELS_INFO
    label_keys = LABEL_KEYS

    def __init__(
        self,
        split: str,
        split_by: str = "take",
        test_takes: Sequence[int] = OFFICIAL_TEST_TAKES,
        test_speakers: Sequence[str] = DEFAULT_TEST_SPEAKERS,
        takes: Sequence[int] | None = None,
        segment_hop: int = SEGMENT_FRAMES,
        short_utterances: str = "pad",
        normalise: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        raw_dir: str | os.PathLike[str] | None = None,
        download: bool = False,
    ) -> None:
        """Load (featurising on first use) one split; ``takes`` selects a subset of recordings (size knob).

        ``split_by="take"``: takes in ``test_takes`` are test (default: official 0-4), the rest train.
        ``split_by="speaker"``: every recording of ``test_speakers`` is test, the other speakers train.
        ``download=True`` fetches missing recordings into ``raw_dir`` (required then) from upstream.
        """
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        if download:
            if raw_dir is None:
                raise DataError("download=true needs raw_dir=<folder> to download the recordings into")
            download_recordings(raw_dir, takes)
        arrays = load_features(takes, segment_hop, short_utterances, cache_dir, raw_dir)
        is_test = held_out_mask(arrays, split_by, test_takes, test_speakers)
        for name, mask in (("train", ~is_test), ("test", is_test)):
            if not mask.any():
                raise DataError(f"the {name} split is empty with split_by={split_by!r} and takes={takes!r}")
        self.split, self.split_by = split, split_by
        self.raw_dir = Path(raw_dir) if raw_dir is not None else RAW_DIR
        self.rows = np.flatnonzero(is_test if split == "test" else ~is_test)
        self.features = arrays["features"]
        self.labels = {key: np.asarray(arrays[key][self.rows]) for key in LABEL_KEYS + ("take",)}
        if normalise:
            self.mean, self.std = feature_stats(self.features, np.flatnonzero(~is_test))
        else:
            self.mean, self.std = np.zeros(N_BINS, np.float32), np.ones(N_BINS, np.float32)

    def __len__(self) -> int:
        """Return the number of segments."""
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Return segment ``index`` as normalised features plus its labels."""
        x = (np.asarray(self.features[self.rows[index]], dtype=np.float32) - self.mean) / self.std
        item = {"x": torch.from_numpy(x)}
        for key in LABEL_KEYS:
            item[key] = torch.as_tensor(int(self.labels[key][index]), dtype=torch.long)
        return item

    @property
    def spectrogram(self) -> Spectrogram:
        """How the frames were computed from sound (module docstring), to turn them back into it (data/audio.py)."""
        return Spectrogram(SAMPLE_RATE, HOP, WINDOW, N_FFT, LOG_FLOOR, self.mean.astype(np.float64), self.std.astype(np.float64))

    def segments_of(self, utterance: int) -> np.ndarray:
        """Indices of one utterance's segments in this split, in time order (empty when it is not in the split)."""
        rows = np.flatnonzero(self.labels["utterance"] == utterance)
        return rows[np.argsort(self.labels["segment"][rows], kind="stable")]

    @functools.cached_property
    def _checksums(self) -> dict[str, str]:
        """The repository's SHA256SUMS, read once per data set (``recording`` verifies every file against it)."""
        return read_checksums(RAW_DIR)

    def recording(self, utterance: int) -> np.ndarray:
        """The utterance's verified samples in [-1, 1), DC removed as for its features."""
        speaker, rest = divmod(int(utterance), N_DIGITS * N_TAKES)
        rel = file_name(speaker, *divmod(rest, N_TAKES))
        samples = decode_wav(verified_bytes(self.raw_dir, rel, self._checksums), rel)
        return samples - samples.mean() if len(samples) else samples

    def utterance_speakers(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the split's distinct utterance ids (sorted) and the speaker of each."""
        utterances, first = np.unique(self.labels["utterance"], return_index=True)
        return utterances, self.labels["speaker"][first]
