"""Missing-frame imputation of DSA §4.3 (Li & Mandt 2018, Fig. 7 and Fig. 8), for any model with ordered dynamics.

§4.3: "the models observe the first t < T frames of a sequence and predict the remaining T - t frames using the
prior dynamics"; Fig. 8 plots the "average fraction of incorrectly reconstructed/predicted pixels" against the
number of consecutive missing frames. Here:

* the guide runs on the observed prefix x_1:t only and its posterior means are the encoding;
* the model is conditioned (``poutine.condition``) on the sequence-level latents (e.g. DSA's f, LSTM-f/c's f and z)
  and on the per-step latents of the observed frames (sites ``<name>_1 .. <name>_t``, e.g. DSA's z_1..z_t), and run
  for all T frames, so z_{t+1..T} come from the prior transition (DSA, VDSM) or the deterministic LSTM (LSTM-f/c);
* frames are compared after binarising at 0.5 (``evaluation.metrics.wrong_pixel_fraction``).

§4.3 does not say which prediction of a stochastic model is scored. ``imputation`` scores one roll-out along the prior
means; ``imputation_predictive`` (ours) scores the mean pixel probabilities of ``draws`` roll-outs that sample the later
latents, the Monte Carlo predictive marginal: thresholding it at 0.5 is the prediction with the fewest expected wrong
pixels, and it is what a deterministic baseline trained with a Bernoulli likelihood learns to output.

Which latents are which is read from the latent layout each model declares (inference/layout.py), not its name:
``steps`` groups are per step, ``sequence`` groups per sequence. Models with a group that is one block over all
frames (Grathwohl & Wilson's, the unordered model, VDSM stage 1) cannot be conditioned on a prefix and are refused.

The caption of Fig. 8 does not say whether the error is over all T frames or only the missing ones; the text's
"reconstructed/predicted pixels" suggests all frames, so ``imputation_curve`` reports both.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import pyro.poutine as poutine
import torch
from torch.utils.data import Dataset

from evaluation import metrics
from evaluation.protocols import EvaluationError, NotApplicable, batches
from inference.anneal import SiteGroups
from inference.figures import save_rows
from inference.latents import UseMeans, latent_sites, posterior_means
from inference.layout import infer_layout, step_of

THRESHOLD = 0.5  # binarisation of predicted and true pixels (Fig. 8)
PREDICTED_COLOUR = (0.0, 1.0, 0.0)  # Fig. 7 shows the predicted frames in green


def model_name(model: Callable) -> str:
    """The registry name of a model (or its class name) for messages."""
    return getattr(model, "name", "") or type(model).__name__


def _prior_latents(model: Callable, groups: SiteGroups, seq_len: int) -> dict[str, torch.Tensor]:
    """One prior draw of the model's latent sites (those of a latent group, so not ``x``) for ``seq_len`` frames."""
    with torch.no_grad(), UseMeans():
        trace = poutine.trace(model).get_trace(None, batch_size=1, seq_len=seq_len)
    return {name: site["value"] for name, site in latent_sites(trace).items() if groups.index(name) is not None}


def imputation_sites(model: Callable, groups: SiteGroups, seq_len: int) -> tuple[list[str], list[str]]:
    """(sequence-level site names, per-step base names) of a model, or NotApplicable (one line) if it cannot impute.

    Read from each group's latent layout (declared by the model, inference/layout.py): ``sequence`` groups are
    conditioned as they are, ``steps`` groups on their observed steps; a group that is one block over all frames
    cannot be conditioned on a prefix.
    """
    values = _prior_latents(model, groups, seq_len)
    global_sites: list[str] = []
    bases: set[str] = set()
    for group in groups.names:
        sites = {name: value for name, value in values.items() if groups.names[groups.index(name)] == group}
        layout = groups.layout(group) or infer_layout(sites, seq_len)
        if layout == "sequence":
            global_sites += list(sites)
        elif layout == "steps":
            bases |= {step_of(name)[0] for name in sites}
        elif sites:
            raise NotApplicable(
                f"cannot impute frames with model '{model_name(model)}': latent group '{group}' is one block over all frames "
                f"(layout {layout}, sites {', '.join(sites)}); imputation needs sequence-level latents and per-step latents <name>_1 .. <name>_T"
            )
    return global_sites, sorted(bases)


def _check_sizes(x: torch.Tensor, observed: int) -> None:
    """Raise unless x is (B, T, ...) and 1 <= observed <= T."""
    if x.dim() < 3:
        raise EvaluationError(f"x must be (batch, time, ...) sequences, got shape {tuple(x.shape)}")
    if not 1 <= observed <= x.shape[1]:
        raise EvaluationError(f"observed must be between 1 and T = {x.shape[1]}, got {observed}")


@torch.no_grad()
def prefix_latents(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, observed: int) -> dict[str, torch.Tensor]:
    """Posterior means from the first ``observed`` frames: sequence-level latents and per-step latents 1..observed."""
    _check_sizes(x, observed)
    global_sites, bases = imputation_sites(model, groups, x.shape[1])
    wanted = global_sites + [f"{base}_{step}" for base in bases for step in range(1, observed + 1)]
    encoded = posterior_means(guide, x[:, :observed])
    for site in wanted:
        if site not in encoded:
            raise NotApplicable(f"the guide does not sample site '{site}' of model '{model_name(model)}' from {observed} frames")
    return {site: encoded[site] for site in wanted}


@torch.no_grad()
def impute(
    model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, observed: int, sample: bool = False, draws: int = 1
) -> torch.Tensor:
    """Pixel means (B, T, ...) of all T frames given only the first ``observed`` (DSA §4.3, Fig. 7-8).

    The later latents follow the model's prior dynamics: their prior means (``sample=False``) or draws, and with
    ``draws > 1`` the pixel means are averaged over that many roll-outs (the predictive marginal; the prefix is encoded once).
    With ``observed = T`` this is ``inference.latents.reconstruct``.
    """
    if draws < 1 or (draws > 1 and not sample):
        raise EvaluationError(f"draws must be at least 1, and more than 1 only with sample=True; got draws={draws}, sample={sample}")
    batch, seq_len = x.shape[:2]
    latents = prefix_latents(model, guide, groups, x, observed)
    if not sample:
        with UseMeans():
            return poutine.condition(model, data=latents)(None, batch_size=batch, seq_len=seq_len)
    if any(value.shape[0] != batch for value in latents.values()):
        raise NotApplicable(f"cannot draw roll-outs of model '{model_name(model)}' in one batch: a latent's first dimension is not the sequence")
    # the draws run as one batch of draws x B sequences (one model call, not ``draws``): draw d of sequence b is row d*B + b
    repeated = {site: value.repeat(draws, *[1] * (value.dim() - 1)) for site, value in latents.items()}
    predicted = poutine.condition(model, data=repeated)(None, batch_size=draws * batch, seq_len=seq_len)
    return predicted.reshape(draws, batch, *predicted.shape[1:]).mean(dim=0)


def default_missing(seq_len: int) -> list[int]:
    """1 .. T-1 missing frames: every prediction that still observes at least one frame."""
    return list(range(1, seq_len))


@torch.no_grad()
def imputation_curve(
    model: Callable,
    guide: Callable,
    groups: SiteGroups,
    dataset: Dataset,
    count: int,
    batch_size: int,
    device: torch.device | str,
    missing: Iterable[int] | None = None,
    sample: bool = False,
    draws: int = 1,
) -> dict[str, dict[int, float]]:
    """Fig. 8: wrong-pixel fraction per number of missing final frames, over all T frames and over the missing ones.

    Returns ``{"all_frames": {n: fraction}, "missing_frames": {n: fraction}}`` averaged over the first ``count``
    sequences of ``dataset``; n = 0 (pure reconstruction) appears in ``all_frames`` only. ``sample`` and ``draws``
    choose the prediction as in ``impute``.
    """
    count = min(count, len(dataset))
    if count < 1:
        raise EvaluationError("imputation_curve needs at least one sequence")
    seq_len = dataset[0]["x"].shape[0]
    missing = sorted(set(default_missing(seq_len) if missing is None else missing))
    if not missing or missing[0] < 0 or missing[-1] >= seq_len:
        raise EvaluationError(f"missing frame counts must be in 0 .. {seq_len - 1} (at least one frame observed), got {missing}")
    imputation_sites(model, groups, seq_len)  # refuse an unsupported model before any work
    totals = {"all_frames": dict.fromkeys(missing, 0.0), "missing_frames": dict.fromkeys([n for n in missing if n > 0], 0.0)}
    for batch in batches(dataset, count, batch_size, torch.device(device)):
        x = batch["x"]
        for n in missing:
            predicted = impute(model, guide, groups, x, seq_len - n, sample, draws)
            totals["all_frames"][n] += x.shape[0] * metrics.wrong_pixel_fraction(predicted, x, THRESHOLD)
            if n > 0:
                totals["missing_frames"][n] += x.shape[0] * metrics.wrong_pixel_fraction(predicted[:, -n:], x[:, -n:], THRESHOLD)
    return {kind: {n: total / count for n, total in curve.items()} for kind, curve in totals.items()}


def mark_predicted(frames: torch.Tensor, observed: int) -> torch.Tensor:
    """(T, C, H, W) -> RGB frames with the predicted ones (after ``observed``) in green, as in DSA Fig. 7."""
    frames = frames.clamp(0, 1).cpu()
    rgb = frames.expand(-1, 3, -1, -1).clone() if frames.shape[1] == 1 else frames[:, :3].clone()
    intensity = rgb[observed:].mean(dim=1, keepdim=True)
    rgb[observed:] = intensity * torch.tensor(PREDICTED_COLOUR).view(1, 3, 1, 1)
    return rgb


@torch.no_grad()
def save_imputation_figure(
    model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, observed_counts: Iterable[int], path: str | Path, sequences: int = 3
) -> None:
    """Per sequence: the true frames, then one row per observed count t with frames t+1..T predicted (green)."""
    x = x[:sequences]
    observed_counts = list(observed_counts)
    imputations = {t: impute(model, guide, groups, x, t) for t in observed_counts}
    rows = []
    for i in range(x.shape[0]):
        rows.append((f"sequence {i}", x[i]))
        rows += [(f"observe {t}\npredict {x.shape[1] - t}", mark_predicted(imputations[t][i], t)) for t in observed_counts]
    title = f"{model_name(model)}: true sequences and imputations from the first t frames (predicted in green); time →"
    save_rows(rows, path, title=title)
