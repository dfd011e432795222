"""Voice conversion, judged (DSA §4.2, Fig. 6; the paper shows it and reports no number): the words of one utterance
decoded in the voice of another speaker, i.e. z_1:T of a segment with f of a segment of a different speaker.

Every test segment b (the words donor; the first ``max_sequences`` when evaluate.py is given fewer) is converted once
into each other speaker's voice, with f from one test segment of that speaker drawn at random (seeded). The judge then
says, over all these pairs: how often the conversion is heard as the voice donor (``conversion_rate``), how often its words are still b's (``words_kept``), and, among pairs whose two
digits differ, how often the words follow the voice donor instead (``words_of_voice_donor``: content carried by f). The
judge's own accuracy on the real segments and on their reconstructions bounds what a conversion can score.
"""
from __future__ import annotations

import numpy as np
import torch

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import batches, class_names, frames_of, judged_classes, label_values
from inference.latents import motion_groups, reconstruct, swap

SEED = 0


def conversion_pairs(speakers: np.ndarray, count: int | None = None, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(voice donor, words donor) index pairs: each of the first ``count`` segments b once with a segment of each
    other speaker, drawn at random from all of ``speakers`` (the whole test split)."""
    rng = np.random.default_rng(seed)
    by_speaker = {s: np.flatnonzero(speakers == s) for s in np.unique(speakers)}
    voice, words = [], []
    for b, own in enumerate(speakers[:count]):
        for s, members in by_speaker.items():
            if s != own:
                voice.append(int(rng.choice(members)))
                words.append(b)
    return np.asarray(voice, dtype=np.int64), np.asarray(words, dtype=np.int64)


@torch.no_grad()
def voice_conversion(ctx: Context) -> dict:
    """The conversion, words and leak rates over every (segment, other speaker) pair, overall and per speaker pair."""
    judge, batch = ctx.judge, ctx.options.batch_size
    voice_head, words_head = judge.static_heads[0], judge.motion_heads[0]
    speakers, digits = label_values(ctx.dataset, voice_head), label_values(ctx.dataset, words_head)
    voice, words = conversion_pairs(speakers, ctx.count)
    if len(voice) == 0:
        return {"pairs": 0}
    heard_voice, heard_words = [], []
    for start in range(0, len(voice), batch):
        a, b = frames_of(ctx.dataset, voice[start : start + batch], ctx.device), frames_of(ctx.dataset, words[start : start + batch], ctx.device)
        judged = judged_classes(judge, swap(ctx.model, ctx.guide, ctx.groups, a, b, motion_groups(ctx.groups)))  # f of a, z_1:T of b
        heard_voice.append(judged[voice_head].cpu().numpy())
        heard_words.append(judged[words_head].cpu().numpy())
    heard_voice, heard_words = np.concatenate(heard_voice), np.concatenate(heard_words)
    converted = heard_voice == speakers[voice]
    differ = digits[voice] != digits[words]
    names = class_names(ctx.dataset, voice_head, int(speakers.max()) + 1)
    by_pair = {names[s]: {names[t]: float(converted[(speakers[words] == s) & (speakers[voice] == t)].mean())
                          for t in np.unique(speakers) if t != s} for s in np.unique(speakers[words])}
    return {
        "pairs": int(len(voice)),
        "conversion_rate": float(converted.mean()),
        "words_kept": float((heard_words == digits[words]).mean()),
        "words_of_voice_donor": float((heard_words[differ] == digits[voice][differ]).mean()) if differ.any() else float("nan"),
        "by_speaker_pair": by_pair,  # [words donor's speaker][voice donor's speaker] -> conversion rate
        **_bounds(ctx, speakers, digits, voice_head, words_head),
    }


def _bounds(ctx: Context, speakers: np.ndarray, digits: np.ndarray, voice_head: str, words_head: str) -> dict:
    """The judge's accuracy on the real segments and on their reconstructions: what a conversion can at best score."""
    real, recon = {voice_head: [], words_head: []}, {voice_head: [], words_head: []}
    for items in batches(ctx.dataset, ctx.count, ctx.options.batch_size, ctx.device):
        for store, x in ((real, items["x"]), (recon, reconstruct(ctx.model, ctx.guide, items["x"]))):
            judged = judged_classes(ctx.judge, x)
            for head in store:
                store[head].append(judged[head].cpu().numpy())
    truth = {voice_head: speakers[: ctx.count], words_head: digits[: ctx.count]}
    return {f"judge_on_{name}": {head: float((np.concatenate(found) == truth[head]).mean()) for head, found in store.items()}
            for name, store in (("real", real), ("reconstructions", recon))}


class VoiceConversion(Metric):
    """DSA Fig. 6 as numbers: conversions into every other speaker's voice, judged for voice and words."""

    name = "voice_conversion"
    needs_judge = True
    tracked = False  # five conversions per test segment: evaluate.py's, not every checkpoint's
    order = 55

    def applies(self, ctx: Context) -> str | None:
        if getattr(ctx.dataset, "spectrogram", None) is None:
            return "the frames are not spectrograms of speech"
        if "static" not in ctx.groups.names or not motion_groups(ctx.groups):
            return "the model has no static and motion latent groups to exchange"
        if not (ctx.judge.static_heads and ctx.judge.motion_heads):
            return "the judge names no speaker (static) and words (motion) head"
        return None

    def compute(self, ctx: Context) -> dict:
        return voice_conversion(ctx)

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        found = metrics[self.name]
        if not found.get("pairs"):
            return []
        bounds = ", ".join(f"on {name.removeprefix('judge_on_')}: " + ", ".join(f"{h} {v:.1%}" for h, v in found[name].items())
                           for name in ("judge_on_real", "judge_on_reconstructions"))
        return ["## Voice conversion (DSA §4.2, Fig. 6, judged; the paper reports no number)", "",
                f"{found['pairs']} conversions (every test segment into each other speaker's voice): heard as the voice donor "
                f"{found['conversion_rate']:.1%}, words kept {found['words_kept']:.1%}, words of the voice donor instead "
                f"{found['words_of_voice_donor']:.1%} (pairs with different digits). The judge's accuracy {bounds}.", ""]
