"""Speaker-verification trial lists for the EER metric (DSA §4.2, after Hsu et al. 2017).

A trial is an (enrolment utterance, test utterance, same_speaker) triple. The
metric averages a model's per-segment features over each utterance's segments
(DSA §4.2: mu_f and mu_z) and scores a trial by the cosine similarity of the two
utterance features; the EER is where false acceptances equal false rejections.

Pairs are unordered (enrolment id < test id), so no utterance is paired with
itself and no pair appears twice. ``mode="all"`` keeps every pair;
``mode="balanced"`` keeps equally many same- and different-speaker pairs
(all pairs of the rarer kind, a seeded sample of the other). ``max_trials``
caps the count by a seeded sample (half of each kind when balanced). Trials are
returned sorted by (enrolment, test), so a list depends only on its inputs and
the seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DataError

MODES = ("balanced", "all")


def utterance_table(utterances: np.ndarray, speakers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reduce per-segment (utterance, speaker) labels to sorted distinct utterances and their speakers."""
    utterances, speakers = np.asarray(utterances, np.int64).ravel(), np.asarray(speakers, np.int64).ravel()
    if utterances.shape != speakers.shape:
        raise DataError(f"utterances and speakers differ in length: {utterances.shape} vs {speakers.shape}")
    pairs = np.unique(np.stack([utterances, speakers], axis=1), axis=0)
    ids, counts = np.unique(pairs[:, 0], return_counts=True)
    if (counts > 1).any():
        raise DataError(f"utterance {int(ids[counts > 1][0])} is labelled with more than one speaker")
    return pairs[:, 0], pairs[:, 1]


def _sample(rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``count`` of ``rows`` chosen without replacement (all of them if count >= len)."""
    if count >= len(rows):
        return rows
    return np.sort(rng.choice(rows, size=count, replace=False))


def build_trials(
    utterances: np.ndarray,
    speakers: np.ndarray,
    mode: str = "balanced",
    seed: int = 0,
    max_trials: int | None = None,
) -> dict[str, np.ndarray]:
    """Return trials {"enrol", "test": int64 utterance ids, "same_speaker": bool} from per-segment labels."""
    if mode not in MODES:
        raise DataError(f"trial mode must be one of {', '.join(MODES)}, got {mode!r}")
    if max_trials is not None and (not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 2):
        raise DataError(f"max_trials must be an int >= 2 or None, got {max_trials!r}")
    ids, spk = utterance_table(utterances, speakers)
    if len(ids) < 2:
        raise DataError(f"need at least 2 utterances to build trials, got {len(ids)}")
    first, second = np.triu_indices(len(ids), k=1)
    same = spk[first] == spk[second]
    rng = np.random.default_rng(seed)
    if mode == "balanced":
        if same.all() or not same.any():
            raise DataError("balanced trials need both same- and different-speaker pairs (give >= 2 speakers)")
        per_kind = min(int(same.sum()), int((~same).sum()))
        if max_trials is not None:
            per_kind = min(per_kind, max_trials // 2)
        kinds = (np.flatnonzero(same), np.flatnonzero(~same))
        keep = np.concatenate([_sample(rows, per_kind, rng) for rows in kinds])
    else:
        keep = _sample(np.arange(len(first)), max_trials if max_trials is not None else len(first), rng)
    keep = np.sort(keep)
    return {"enrol": ids[first[keep]], "test": ids[second[keep]], "same_speaker": same[keep]}


def trials_for_dataset(dataset: Any, mode: str = "balanced", seed: int = 0, max_trials: int | None = None) -> dict:
    """Build trials over a speech dataset exposing ``utterance_speakers()`` (e.g. the FSDD test split)."""
    utterances, speakers = dataset.utterance_speakers()
    return build_trials(utterances, speakers, mode=mode, seed=seed, max_trials=max_trials)
