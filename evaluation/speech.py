"""DSA Table 2 (Li & Mandt 2018, §4.2): speaker verification EER of a guide's static and dynamic posterior means.

For every segment n of an utterance the guide's posterior means are read out (``inference.latents.posterior_means``);
the latent groups say which sites are static (``f``) and which are dynamics (``z_1 .. z_T``), so nothing here is
DSA-specific. §4.2's utterance features are

    mu_f = 1/N sum_n E_q[f^n],        mu_z = 1/(T N) sum_n sum_t E_q[z_t^n],

and a trial (enrolment, test utterance) is scored by the cosine similarity of their features; the EER is where
false acceptances equal false rejections (``evaluation.metrics.speaker_verification_eer``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from data.speech_trials import trials_for_dataset
from evaluation.metrics import speaker_verification_eer, utterance_means
from evaluation.protocols import EvaluationError, NotApplicable
from inference.anneal import SiteGroups
from inference.latents import group_latents, posterior_means

STATIC, DYNAMICS = "static", "dynamics"


def segment_features(guide: Callable, groups: SiteGroups, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per segment: static means concatenated (B, d_f), and dynamics means stacked over time (B, T, d_z)."""
    means = posterior_means(guide, x)
    static, dynamics = list(group_latents(groups, means, (STATIC,)).values()), list(group_latents(groups, means, (DYNAMICS,)).values())
    if not static or not dynamics:
        raise NotApplicable(f"speaker verification needs latent groups '{STATIC}' and '{DYNAMICS}'; the guide's sites are {sorted(means)}")
    batch = x.shape[0]
    static_features = torch.cat([value.reshape(batch, -1) for value in static], dim=-1)
    dynamics_features = torch.stack([value.reshape(batch, -1) for value in dynamics], dim=1)
    return static_features, dynamics_features


def encode_segments(
    guide: Callable, groups: SiteGroups, dataset: Dataset, batch_size: int = 64, device: str | torch.device = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Static (N, d_f) and dynamics (N, T, d_z) posterior means of every segment of ``dataset``, and its utterance ids (N,)."""
    if batch_size < 1:
        raise EvaluationError(f"batch_size must be >= 1, got {batch_size}")
    static, dynamics, utterances = [], [], []
    for start in range(0, len(dataset), batch_size):
        batch = default_collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        f_means, z_means = segment_features(guide, groups, batch["x"].to(device))
        static.append(f_means.cpu().numpy())
        dynamics.append(z_means.cpu().numpy())
        utterances.append(batch["utterance"].cpu().numpy())
    return np.concatenate(static), np.concatenate(dynamics), np.concatenate(utterances)


def dsa_table2(
    guide: Callable,
    groups: SiteGroups | Mapping[str, str],
    dataset: Dataset,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    mode: str = "balanced",
    seed: int = 0,
    max_trials: int | None = None,
) -> dict[str, Any]:
    """DSA Table 2 on ``dataset`` (e.g. the spoken-digits test split): EER of cosine-scored mu_f and mu_z (§4.2).

    ``groups`` is the model's ``SiteGroups`` (or its ``latent_groups`` mapping); trials come from
    ``data.speech_trials.trials_for_dataset(dataset, mode, seed, max_trials)``. Returns EERs as fractions
    (``eer_static`` from mu_f, ``eer_dynamics`` from mu_z; low static and high dynamics EER = disentangled), the
    trial counts, the number of test speakers and ``split_by``: §4.2 verifies speakers held out of training
    (``split_by="speaker"``); on the take split the test speakers were seen in training, a different question.
    """
    groups = groups if isinstance(groups, SiteGroups) else SiteGroups(groups)
    static, dynamics, utterances = encode_segments(guide, groups, dataset, batch_size, device)
    trials = trials_for_dataset(dataset, mode=mode, seed=seed, max_trials=max_trials)
    _, speakers = dataset.utterance_speakers()
    by_content = eer_by_content(utterance_means(static, utterances), trials, utterance_contents(dataset))
    return {
        **({"eer_static_by_content": by_content} if by_content else {}),
        "eer_static": speaker_verification_eer(utterance_means(static, utterances), trials),  # mu_f
        "eer_dynamics": speaker_verification_eer(utterance_means(dynamics, utterances), trials),  # mu_z: mean over t, then n
        "trials": int(len(trials["same_speaker"])),
        "same_speaker_trials": int(np.sum(trials["same_speaker"])),
        "utterances": int(len(np.unique(utterances))),
        "segments": int(len(utterances)),
        "static_dim": int(static.shape[1]),
        "dynamics_dim": int(dynamics.shape[2]),
        "speakers": int(len(np.unique(speakers))),  # distinct speakers among the test utterances
        # "take": the test speakers also spoke the training takes (seen in training); "speaker": held out, as §4.2
        "split_by": str(getattr(dataset, "split_by", "unknown")),
    }


def utterance_contents(dataset: Dataset) -> dict[int, int] | None:
    """What each test utterance says (FSDD: its digit), when the data set labels it; None otherwise."""
    labels = getattr(dataset, "labels", None)
    if not isinstance(labels, Mapping) or "digit" not in labels or "utterance" not in labels:
        return None
    return {int(u): int(d) for u, d in zip(np.asarray(labels["utterance"]), np.asarray(labels["digit"]))}


def eer_by_content(features: Mapping[int, np.ndarray], trials: Mapping[str, np.ndarray], contents: Mapping[int, int] | None) -> dict[str, float] | None:
    """The mu_f EER over the trials whose two utterances say the same word, and over those that say different words.

    A diagnostic, not a paper number: an FSDD utterance is one spoken digit, so a static feature that also holds the
    word separates same-speaker pairs of different words worse (TIMIT's sentences average the words out). None when
    the contents are unknown or either kind of trial lacks same- or different-speaker pairs."""
    if contents is None:
        return None
    same_word = np.array([contents[int(a)] == contents[int(b)] for a, b in zip(trials["enrol"], trials["test"])])
    found = {}
    for name, mask in (("same_content", same_word), ("different_content", ~same_word)):
        subset = {key: np.asarray(value)[mask] for key, value in trials.items()}
        if len(set(subset["same_speaker"].tolist())) < 2:
            return None
        found[name] = speaker_verification_eer(features, subset)
    return found
