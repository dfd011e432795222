"""Spectrogram frames back to sound: what a speech data set needs to keep to be inverted, and the inversion itself.

A data set whose frames are normalised log-magnitude spectra (data/fsdd.py) declares a ``Spectrogram``: the STFT's
hop, window and FFT size, the log floor and the per-bin normalisation. ``Spectrogram.magnitudes`` undoes the scaling;
phase is rebuilt by Griffin & Lim (1984) as librosa implements it, and the fundamental frequency is tracked by
librosa's pYIN. librosa is the optional ``[audio]`` extra (``pip install -e '.[audio]'``): what needs it says so.
"""
from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from .errors import DataError

INSTALL_HINT = "pip install -e '.[audio]'"
GRIFFIN_LIM_ITERATIONS = 100
PITCH_RANGE = (60.0, 400.0)  # Hz: pYIN's search range, wide around adult speech (FSDD's speakers sit at 100-170 Hz)
PITCH_FRAME = 512  # samples pYIN reads per F0 estimate (64 ms at 8 kHz: at least two periods down to 60 Hz)


class AudioUnavailable(RuntimeError):
    """librosa (the optional ``[audio]`` extra) is not installed."""


def librosa() -> ModuleType:
    """The librosa module, or AudioUnavailable naming the extra that installs it."""
    try:
        import librosa as module
    except ImportError as err:
        raise AudioUnavailable(f"sound needs librosa, the optional audio extra: {INSTALL_HINT}") from err
    return module


@dataclass(frozen=True)
class Spectrogram:
    """How frames were computed from sound: frame t = (log(|STFT| + log_floor) - mean) / std, one frame every ``hop``."""

    sample_rate: int
    hop: int
    window: int  # Hann window length, samples
    n_fft: int
    log_floor: float
    mean: np.ndarray  # (bins,) per-bin normalisation
    std: np.ndarray

    @property
    def bin_hz(self) -> float:
        """Frequency step between two bins."""
        return self.sample_rate / self.n_fft

    def magnitudes(self, frames: np.ndarray) -> np.ndarray:
        """STFT magnitudes (T, bins) of normalised log frames (T, bins): the scaling undone, negatives clipped to 0."""
        frames = np.asarray(frames, dtype=np.float64)
        if frames.ndim != 2 or frames.shape[1] != len(self.mean):
            raise DataError(f"spectrogram frames must be (T, {len(self.mean)}), got {tuple(frames.shape)}")
        return np.maximum(np.exp(frames * self.std + self.mean) - self.log_floor, 0.0)

    def waveform(self, frames: np.ndarray, iterations: int = GRIFFIN_LIM_ITERATIONS) -> np.ndarray:
        """Samples whose STFT magnitudes match ``frames``: Griffin-Lim phase reconstruction (librosa), seeded.

        librosa centres frame t on sample t * hop, where the data sets centre it on the middle of hop t: the sound is
        5 ms (half a hop) early, which nobody hears."""
        magnitudes = self.magnitudes(frames)
        return librosa().griffinlim(
            magnitudes.T, n_iter=iterations, hop_length=self.hop, win_length=self.window, n_fft=self.n_fft,
            window="hann", center=True, length=(len(magnitudes) - 1) * self.hop, random_state=0)

    def pitch(self, samples: np.ndarray) -> np.ndarray:
        """Fundamental frequency (Hz) every ``hop`` samples by pYIN (librosa), NaN where unvoiced."""
        f0, voiced, _ = librosa().pyin(np.asarray(samples, dtype=np.float64), fmin=PITCH_RANGE[0], fmax=PITCH_RANGE[1],
                                       sr=self.sample_rate, frame_length=PITCH_FRAME, hop_length=self.hop)
        return np.where(voiced, f0, np.nan)


def median_pitch(tracks: list[np.ndarray]) -> float:
    """Median F0 over the voiced frames of some tracks (NaN when none is voiced)."""
    voiced = np.concatenate([t[np.isfinite(t)] for t in tracks]) if tracks else np.zeros(0)
    return float(np.median(voiced)) if voiced.size else float("nan")


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono 16-bit PCM, scaled so the loudest sample sits at 90 % of full scale (silence stays silent)."""
    samples = np.asarray(samples, dtype=np.float64)
    peak = np.abs(samples).max() if samples.size else 0.0
    pcm = np.round(samples / peak * 0.9 * 32767).astype("<i2") if peak > 0 else np.zeros(samples.shape, "<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.tobytes())
