"""DSA Fig. 6: voice conversion between the two test speakers whose voices differ most in pitch, as four spectrograms
with the fundamental frequency marked, and as sound (WAV, Griffin-Lim phase reconstruction).

Utterance a (of the highest-pitched speaker) and b (of the lowest-pitched, another digit) are the test utterances whose
real recordings have the most voiced frames among those the pitch was measured on; they are cut into their 200 ms
segments as the data set holds them. Each conversion decodes every segment's z_1:T with one f for the whole utterance
of the other speaker: the mean of its segments' posterior means (f should not change within an utterance). The panels show a, b,
b's words in a's voice and a's words in b's voice, 0-2 kHz where the harmonics of these voices lie, with pYIN's F0 of
each panel's sound in red. The checks: the median F0 of each, and of each test speaker's real recordings (the pitch
the pair was chosen by). FSDD's six speakers are all men: the paper's male-female conversion cannot be shown here.
Needs librosa, the optional ``[audio]`` extra.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pyro.poutine as poutine
import torch

from data.audio import AudioUnavailable, Spectrogram, librosa, median_pitch, write_wav
from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.protocols import class_names, frames_of, label_values
from inference.latents import UseMeans, group_latents, motion_groups, posterior_means
from inference.plotting import pyplot

PITCH_UTTERANCES = 10  # real test recordings per speaker the pitch is measured on (one per digit where it can)
SHOWN_HZ = 2000.0
VOICE, WORDS = "speaker", "digit"  # the labels the pair is chosen by


@torch.no_grad()
def in_voice_of(model, guide, groups, voice: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """Decode each segment of ``words`` (K, T, ...) with its own motion latents and the static latents of ``voice``
    (J, T, ...) averaged over its J segments (posterior means): one utterance's words in another's voice (DSA §2)."""
    static = {name: value.mean(0, keepdim=True).expand(words.shape[0], *value.shape[1:])
              for name, value in group_latents(groups, posterior_means(guide, voice), ("static",)).items()}
    motion = group_latents(groups, posterior_means(guide, words), motion_groups(groups))
    with UseMeans():
        return poutine.condition(model, data=static | motion)(None, batch_size=words.shape[0], seq_len=words.shape[1])


def utterances_by_speaker(dataset) -> dict[int, list[tuple[int, int]]]:
    """Per speaker, its test utterances as (utterance, digit), round-robin over digits: the first of each digit, then
    the second of each, ... (so the first PITCH_UTTERANCES cover every digit)."""
    listed: dict[int, dict[int, int]] = {}
    for utterance, speaker, digit in zip(*(label_values(dataset, key) for key in ("utterance", VOICE, WORDS))):
        listed.setdefault(int(speaker), {}).setdefault(int(utterance), int(digit))
    spread = {}
    for speaker, digits in listed.items():
        rank, seen = {}, Counter()
        for utterance, digit in digits.items():
            rank[utterance], seen[digit] = seen[digit], seen[digit] + 1
        spread[speaker] = [(u, digits[u]) for u in sorted(digits, key=lambda u: (rank[u], u))]
    return spread


def pitch_tracks(dataset, utterances: dict[int, list[tuple[int, int]]]) -> dict[int, list[tuple[int, int, np.ndarray]]]:
    """Per speaker, (utterance, digit, F0 track of its real recording) for up to PITCH_UTTERANCES test utterances."""
    spectrogram = dataset.spectrogram
    return {speaker: [(u, d, spectrogram.pitch(dataset.recording(u))) for u, d in listed[:PITCH_UTTERANCES]]
            for speaker, listed in utterances.items()}


def most_voiced(tracks: list[tuple[int, int, np.ndarray]], avoid_digit: int | None = None) -> tuple[int, int]:
    """The (utterance, digit) whose real recording has the most voiced frames (another digit than ``avoid_digit``
    where there is one): where the pitch shows best. FSDD's "six" is mostly hiss, "zero" mostly vowel."""
    allowed = [t for t in tracks if t[1] != avoid_digit] or tracks
    utterance, digit, _ = max(allowed, key=lambda t: int(np.isfinite(t[2]).sum()))
    return utterance, digit


def spectrogram_panel(ax, magnitudes: np.ndarray, f0: np.ndarray, spectrogram: Spectrogram, label: str) -> None:
    """One panel: log magnitudes (time x frequency, 0 to SHOWN_HZ) with the F0 track in red."""
    seconds = len(magnitudes) * spectrogram.hop / spectrogram.sample_rate
    top = spectrogram.bin_hz * (magnitudes.shape[1] - 1)
    ax.imshow(np.log(magnitudes.T + spectrogram.log_floor), origin="lower", aspect="auto", cmap="magma",
              extent=(0, seconds, -spectrogram.bin_hz / 2, top + spectrogram.bin_hz / 2))
    ax.plot((np.arange(len(f0)) + 0.5) * spectrogram.hop / spectrogram.sample_rate, f0, color="red", lw=1.5)
    ax.set_ylim(0, SHOWN_HZ)
    ax.set_ylabel("Hz", fontsize=7)
    median = median_pitch([f0])
    ax.set_title(f"{label}: " + (f"median F0 {median:.0f} Hz" if np.isfinite(median) else "pYIN finds no voiced frame"), fontsize=8, loc="left")
    ax.tick_params(labelsize=6)


class VoiceConversion(Figure):
    """DSA Fig. 6: a, b and both conversions between the test speakers of most different pitch, as spectrograms and WAV."""

    name = "voice_conversion"
    order = 85
    needs_images = False
    needs_static_and_motion = True

    def applies(self, ctx: FigureContext) -> str | None:
        if getattr(ctx.dataset, "spectrogram", None) is None or not hasattr(ctx.dataset, "recording"):
            return "the frames are not spectrograms of recorded speech"
        if not {VOICE, WORDS} <= set(getattr(ctx.dataset, "labels_info", {})):
            return f"the data set has no {VOICE} and {WORDS} labels"
        if len(np.unique(label_values(ctx.dataset, VOICE))) < 2:
            return "the test split has fewer than two speakers"
        try:
            librosa()
        except AudioUnavailable as err:
            return str(err)
        return None

    def draw(self, ctx: FigureContext) -> Drawn:
        dataset, spectrogram = ctx.dataset, ctx.dataset.spectrogram
        device = next(ctx.model.parameters()).device
        utterances = utterances_by_speaker(dataset)
        tracks = pitch_tracks(dataset, utterances)
        pitch = {speaker: median_pitch([track for _, _, track in found]) for speaker, found in tracks.items()}
        high, low = max(pitch, key=pitch.get), min(pitch, key=pitch.get)
        a, digit_a = most_voiced(tracks[high])
        b, digit_b = most_voiced(tracks[low], avoid_digit=digit_a)
        xa, xb = frames_of(dataset, dataset.segments_of(a), device), frames_of(dataset, dataset.segments_of(b), device)
        names = class_names(dataset, VOICE, max(pitch) + 1)
        voice_a, voice_b = names[high], names[low]
        panels = {
            "a": (f"(a) {voice_a} says {digit_a}", xa),
            "b": (f"(b) {voice_b} says {digit_b}", xb),
            "b_words_a_voice": (f"(c) {digit_b} (words of b) in {voice_a}'s voice (f of a)", in_voice_of(ctx.model, ctx.guide, ctx.groups, xa, xb)),
            "a_words_b_voice": (f"(d) {digit_a} (words of a) in {voice_b}'s voice (f of b)", in_voice_of(ctx.model, ctx.guide, ctx.groups, xb, xa)),
        }
        plt = pyplot()
        fig, axes = plt.subplots(4, 1, figsize=(6, 7.5), squeeze=False)
        files, medians = {}, {}
        for ax, (key, (label, frames)) in zip(axes[:, 0], panels.items()):
            flat = frames.reshape(-1, frames.shape[-1]).float().cpu().numpy()  # the utterance's segments end to end
            sound = spectrogram.waveform(flat)
            f0 = spectrogram.pitch(sound)
            medians[key] = median_pitch([f0])
            spectrogram_panel(ax, spectrogram.magnitudes(flat), f0, spectrogram, label)
            write_wav(ctx.out / f"voice_{key}.wav", sound, spectrogram.sample_rate)
            files[f"voice_{key}.wav"] = f"sound of panel {label} (Griffin-Lim)"
        axes[-1, 0].set_xlabel("seconds", fontsize=7)
        fig.suptitle(f"voice conversion between the test speakers of highest ({voice_a}, {pitch[high]:.0f} Hz) and lowest\n"
                     f"({voice_b}, {pitch[low]:.0f} Hz) median pitch (DSA Fig. 6); red: F0 by pYIN", fontsize=8)
        fig.tight_layout()
        fig.savefig(ctx.out / "voice_conversion.png", dpi=110)
        plt.close(fig)
        checks = {"median_f0_hz": medians, "speaker_pitch_hz": {names[s]: p for s, p in pitch.items()},
                  "voices": {"a": voice_a, "b": voice_b}, "digits": {"a": digit_a, "b": digit_b}}
        return Drawn({"voice_conversion.png": "voice conversion between the speakers of most different pitch, with F0 (DSA Fig. 6)", **files}, checks)
