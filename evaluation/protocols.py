"""The papers' evaluation protocols on a trained model/guide pair: which sequences to generate, what to judge.

Every protocol is model-agnostic: latent groups (``static``, ``dynamics``, ``action``) say what is content and
what is motion, and ``inference.latents`` encodes, conditions and samples through Pyro's poutines.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from evaluation import metrics
from inference.anneal import SiteGroups
from inference.latents import generate_keeping, group_latents, motion_groups, posterior_means, reconstruct, swap
from inference.layout import per_frame, sequence_embedding

log = logging.getLogger(__name__)


class EvaluationError(ValueError):
    """Evaluation input that cannot be scored (too few sequences, a bad extractor file, an unknown factor): one line for the user."""


class NotApplicable(EvaluationError):
    """A metric that does not apply to this model (e.g. imputation for a model whose latents span all frames)."""


def batches(dataset: Dataset, count: int, batch_size: int, device: torch.device):
    """The first ``count`` items of ``dataset`` as collated batches on ``device``."""
    for start in range(0, count, batch_size):
        batch = default_collate([dataset[i] for i in range(start, min(start + batch_size, count))])
        yield {k: v.to(device) for k, v in batch.items()}


def frames_of(dataset: Dataset, indices, device: torch.device | str) -> torch.Tensor:
    """The frames ``x`` of the items at ``indices`` (any order, repeats allowed), stacked on ``device``."""
    return torch.stack([dataset[int(i)]["x"] for i in indices]).to(device)


def class_names(dataset: Dataset, key: str, classes: int) -> list[str]:
    """The names of label ``key``'s classes 0..classes-1 from the data set's ``labels_info``, else their numbers."""
    names = list(getattr(dataset, "labels_info", {}).get(key, {}).get("names", []))
    return names if len(names) >= classes else [str(c) for c in range(classes)]


@torch.no_grad()
def judged_classes(judge, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The judge's class per sequence (N,) for each of its static and motion heads, by factor name: a frame-level
    head's ``<factor>_sequence`` twin answers for it (the Sprites attributes), else its frames' mean probabilities."""
    probabilities = {head.removesuffix("_sequence"): p for head, p in judge.predict_sequences(x).items()}
    return {head: probabilities[head].argmax(-1) for head in (*judge.static_heads, *judge.motion_heads) if head in probabilities}


@torch.no_grad()
def dsa_table1(model: Callable, guide: Callable, groups: SiteGroups, dataset: Dataset, judge, count: int, batch_size: int = 32) -> dict[str, dict[str, float]]:
    """DSA Table 1 (§4.1): fix the encoded f and sample z_1:T from the prior -> judge disagreement on the static heads
    (Sprites: attributes, per frame); fix the encoded motion and sample f -> disagreement on the motion heads (action).
    KL-recon = KL[p_recon || p_data], KL-random = KL[uniform || p_data], with p_data the judge on the real test data."""
    if "static" not in groups.names:
        raise NotApplicable(f"DSA Table 1 fixes the static latent, and this model has none (latent groups: {', '.join(groups.names)})")
    device = next(judge.parameters()).device
    collected: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for batch in batches(dataset, count, batch_size, device):
        x = batch["x"]
        real = judge.predict(x)
        for keep, heads in ((("static",), judge.static_heads), (motion_groups(groups), judge.motion_heads)):
            if heads:
                generated = judge.predict(generate_keeping(model, guide, groups, x, keep))
                for head in heads:
                    collected.setdefault(head, []).append((generated[head], real[head]))
    table = {}
    for head, pairs in collected.items():
        generated = torch.cat([p for p, _ in pairs]).cpu().numpy()
        real = torch.cat([r for _, r in pairs]).cpu().numpy()
        table[head] = {
            "disagreement": metrics.disagreement_rate(generated, real),
            "kl_recon": metrics.kl_recon(generated, real),
            "kl_random": metrics.kl_random(real),
        }
    return table


def _agreement(pairs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]]) -> dict[str, float]:
    """Per factor: the share of sequences whose generated and real judge classes agree, over all collected batches."""
    return {factor: metrics.consistency_accuracy(torch.cat([g for g, _ in parts]).cpu().numpy(), torch.cat([r for _, r in parts]).cpu().numpy())
            for factor, parts in pairs.items()}


def _sequence_head_groups(judge, groups: SiteGroups) -> dict[str, tuple[str, ...]]:
    """Per sequence-level judge head (``<attribute>_sequence`` named by its attribute): the latent groups a
    generation keeps so that the head's factor should survive — ``static`` for the judge's static heads, every
    motion group for its motion heads. Heads the judge names neither way are left out."""
    kept = {}
    for head in judge.sequence_heads():
        factor = head.removesuffix("_sequence")
        if factor in judge.static_heads:
            kept[head] = ("static",)
        elif factor in judge.motion_heads:
            kept[head] = motion_groups(groups)
    return kept


def _static_and_motion_heads(judge, groups: SiteGroups, needs: str) -> tuple[torch.device, dict[str, tuple[str, ...]]]:
    """The judge's device and its sequence heads with the groups each should follow; ``needs`` says why a model without
    a static latent does not apply."""
    if "static" not in groups.names:
        raise NotApplicable(f"{needs}, and this model has none (latent groups: {', '.join(groups.names)})")
    return next(judge.parameters()).device, _sequence_head_groups(judge, groups)


@torch.no_grad()
def accuracy_consistency(model: Callable, guide: Callable, groups: SiteGroups, dataset: Dataset, judge, count: int,
                         batch_size: int = 32) -> dict[str, float]:
    """VDSM §4 (2) and Table 1 "Acc. Cons.": per sequence-level judge head, the share of test sequences whose
    *sampled* sequence the judge puts in the class it gives the real one. For an identity factor the static latent
    is kept (posterior mean) and the motion latents are drawn from the prior; for the action the motion latents are
    kept and the static latent is drawn (``generate_keeping``). Keys are the data set's factor names."""
    device, heads = _static_and_motion_heads(judge, groups, "accuracy consistency keeps or redraws the static latent")
    pairs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for batch in batches(dataset, count, batch_size, device):
        real = judge.predict_sequences(batch["x"])
        for keep in {kept for kept in heads.values()}:
            generated = judge.predict_sequences(generate_keeping(model, guide, groups, batch["x"], keep))
            for head in (h for h, kept in heads.items() if kept == keep):
                pairs.setdefault(head.removesuffix("_sequence"), []).append((generated[head], real[head]))
    return _agreement(pairs)


@torch.no_grad()
def reconstruction_consistency(model: Callable, guide: Callable, dataset: Dataset, judge, count: int, batch_size: int = 32) -> dict[str, float]:
    """Reconstruction check (ours, no paper number): per sequence-level judge head, the share of test sequences whose
    reconstruction (decoded from the posterior means of all latents) the judge puts in the class it gives the real
    sequence. An upper bound for ``accuracy_consistency``: what the decoder cannot draw, no latent swap can keep."""
    device = next(judge.parameters()).device
    pairs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for batch in batches(dataset, count, batch_size, device):
        real = judge.predict_sequences(batch["x"])
        rebuilt = judge.predict_sequences(reconstruct(model, guide, batch["x"]))
        for head in real:
            pairs.setdefault(head.removesuffix("_sequence"), []).append((rebuilt[head], real[head]))
    return _agreement(pairs)


@torch.no_grad()
def swap_consistency(model: Callable, guide: Callable, groups: SiteGroups, dataset: Dataset, judge, count: int, batch_size: int = 32) -> dict[str, float]:
    """Feature swapping (DSA §2) as a number (ours, no paper reports it): each test sequence's motion latents decoded
    with the static latent of another test sequence (``swap_donors``; posterior means); per sequence-level judge head, the
    share of swaps the judge puts in the class of the factor's donor, the static donor for identity heads, the motion
    donor for motion heads. Prior draws of f (``dsa_table1``) can hide motion held in f; a swap uses real f's.
    A motion factor whose classes compose parts (``label_parts``: Sprites' action = motion type x direction) also
    gets ``<factor>.<part>``: among the swaps whose two donors differ in that part, the share that follows the motion donor."""
    device, heads = _static_and_motion_heads(judge, groups, "a swap exchanges the static latent")
    if count < 2:
        raise NotApplicable("a swap needs at least two test sequences")
    donors = swap_donors(count)
    kept = {head.removesuffix("_sequence"): groups_kept for head, groups_kept in heads.items()}
    judged: dict[str, dict[str, list[torch.Tensor]]] = {factor: {"swapped": [], "motion": [], "static": []} for factor in kept}
    for start in range(0, count, batch_size):
        items = np.arange(start, min(start + batch_size, count))
        x, donor = frames_of(dataset, items, device), frames_of(dataset, donors[items], device)
        swapped = swap(model, guide, groups, donor, x, motion_groups(groups))
        for role, frames in (("swapped", swapped), ("motion", x), ("static", donor)):
            classes = judged_classes(judge, frames)
            for factor in kept:
                judged[factor][role].append(classes[factor])
    shares = {}
    for factor, classes in judged.items():
        swapped, motion_donor, static_donor = (torch.cat(classes[role]).cpu().numpy() for role in ("swapped", "motion", "static"))
        if kept[factor] == ("static",):
            shares[factor] = float(np.mean(swapped == static_donor))
        else:
            shares[factor] = float(np.mean(swapped == motion_donor))
            shares.update(_part_shares(factor, label_parts(getattr(dataset, "labels_info", {}), factor), swapped, motion_donor, static_donor))
    return shares


def label_parts(labels_info: Mapping[str, Any], factor: str) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The parts of a composite class label, each as a map from classes to the part's values: Sprites' action is
    ``len(directions) * motion + direction`` (a data set's ``labels_info``); {} for a label that is not such a product."""
    info = labels_info.get(factor, {})
    motions, directions = len(info.get("actions", ())), len(info.get("directions", ()))
    if motions < 2 or directions < 2 or motions * directions != info.get("num_classes"):
        return {}
    return {"motion": lambda classes: classes // directions, "direction": lambda classes: classes % directions}


def _part_shares(factor: str, parts: dict[str, Callable[[np.ndarray], np.ndarray]], swapped: np.ndarray, motion_donor: np.ndarray,
                 static_donor: np.ndarray) -> dict[str, float]:
    """Per part of a composite label: among the swaps whose donors differ in it, the share that keeps the motion donor's."""
    shares = {}
    for part, of in parts.items():
        differ = of(motion_donor) != of(static_donor)
        if differ.any():
            shares[f"{factor}.{part}"] = float(np.mean(of(swapped)[differ] == of(motion_donor)[differ]))
    return shares


def swap_donors(count: int, seed: int = 0) -> np.ndarray:
    """The static donor of each of the first ``count`` items: the next item along one seeded random cycle through them.
    No item is its own donor, and neighbours in a data set's order (Sprites: the nine actions of one character) are not
    paired by design, so a factor the static latent does not hold cannot follow its donor by coincidence."""
    order = np.random.RandomState(seed).permutation(count)
    donors = np.empty(count, dtype=np.int64)
    donors[order] = np.roll(order, -1)
    return donors


def label_values(dataset: Dataset, key: str) -> np.ndarray:
    """Every item's label ``key`` in item order, from the data set's label arrays when it has them (no frames read)."""
    stored = getattr(dataset, "labels", None)
    if isinstance(stored, Mapping) and key in stored:
        return np.asarray(stored[key])
    return np.asarray([int(dataset[i][key]) for i in range(len(dataset))])


def balanced_indices(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of at most ``count`` items with the same number of items of every class (the first of each, in
    item order), so that H(y) and IS are not bent by an uneven test set."""
    classes = np.unique(labels)
    per_class = min(count // len(classes), *(int((labels == c).sum()) for c in classes))
    if per_class < 1:
        raise EvaluationError(f"a class-balanced set of {len(classes)} classes needs at least {len(classes)} sequences, got {count}")
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in classes]))


@torch.no_grad()
def fixed_motion_scores(model: Callable, guide: Callable, groups: SiteGroups, dataset: Dataset, judge, count: int,
                        batch_size: int = 32) -> dict[str, dict[str, float]]:
    """The later papers' Sprites protocol (S3VAE, C-DSVAE Table 1, SKD, SPYL, DBSE): keep the motion latents of
    each test sequence, draw the static latent from the prior, decode, and judge the motion heads (Sprites: the 9
    actions) against the sequence's ground-truth label, on a class-balanced set. Per head: accuracy, IS,
    H(y|x), H(y) (natural logs, so H(y) <= ln K), the number of sequences and classes."""
    if "static" not in groups.names:
        raise NotApplicable(f"the fixed-motion protocol redraws the static latent, and this model has none (latent groups: {', '.join(groups.names)})")
    heads = [h for h in judge.motion_heads if judge.levels.get(h) == "sequence"]
    if not heads:
        raise NotApplicable(f"the {judge.name} judge has no sequence-level motion head to judge")
    device = next(judge.parameters()).device
    scores = {}
    for head in heads:
        labels = label_values(dataset, head)
        try:
            chosen = balanced_indices(labels, count)
        except EvaluationError as err:  # e.g. max_sequences below the number of classes: listed, not fatal
            raise NotApplicable(str(err)) from err
        predicted = []
        for start in range(0, len(chosen), batch_size):
            x = default_collate([dataset[int(i)]["x"] for i in chosen[start : start + batch_size]]).to(device)
            predicted.append(judge.predict_sequences(generate_keeping(model, guide, groups, x, motion_groups(groups)))[head].cpu())
        p = torch.cat(predicted).numpy()
        truth = labels[chosen]
        scores[head] = {"accuracy": metrics.consistency_accuracy(p, truth), "inception_score": metrics.inception_score(p),
                        "intra_entropy": metrics.intra_entropy(p), "inter_entropy": metrics.inter_entropy(p),
                        "sequences": int(len(chosen)), "classes": int(p.shape[-1])}
    return scores


@torch.no_grad()
def generation_scores(model: Callable, judge, count: int, seq_len: int, batch_size: int = 32) -> dict[str, dict[str, float]]:
    """VDSM Table 2 / C-DSVAE protocol on sequences drawn from the prior: per sequence-level judge head, IS, H(y|x), H(y)."""
    predictions: dict[str, list[torch.Tensor]] = {}
    for start in range(0, count, batch_size):
        x = model(None, batch_size=min(batch_size, count - start), seq_len=seq_len)
        for head, p in judge.predict_sequences(x).items():
            predictions.setdefault(head, []).append(p)
    scores = {}
    for head, parts in predictions.items():
        p = torch.cat(parts).cpu().numpy()
        scores[head] = {"inception_score": metrics.inception_score(p), "intra_entropy": metrics.intra_entropy(p),
                        "inter_entropy": metrics.inter_entropy(p), "classes": p.shape[-1]}
    return scores


@torch.no_grad()
def frame_features(guide: Callable, groups: SiteGroups, dataset: Dataset, count: int, batch_size: int, device: torch.device) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Posterior-mean features per frame for each latent group (rows = sequences x frames), with the per-frame labels.

    Per-step sites (DSA's z_t), per-frame blocks (B, T, F) or (B, F, T) (G&W) are read per frame; per-sequence
    sites (B, F) are repeated over the frames.
    """
    features: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[np.ndarray]] = {}
    for batch in batches(dataset, count, batch_size, device):
        x = batch["x"]
        frames = x.shape[1]
        means = posterior_means(guide, x)
        for group in groups.names:
            by_frame = per_frame(groups.layout(group), group_latents(groups, means, (group,)), frames)
            if by_frame is not None:
                features.setdefault(group, []).append(by_frame.reshape(x.shape[0] * frames, -1).cpu().numpy())
        for key, value in batch.items():
            if key != "x":
                label = value if value.dim() >= 2 and value.shape[1] == frames else value.unsqueeze(1).expand(value.shape[0], frames, *value.shape[1:])
                labels.setdefault(key, []).append(label.reshape(x.shape[0] * frames, *label.shape[2:]).cpu().numpy())
    return {k: np.concatenate(v) for k, v in features.items()}, {k: np.concatenate(v) for k, v in labels.items()}


def gw_disentanglement(guide: Callable, groups: SiteGroups, dataset: Dataset, count: int, static_target: str, temporal_target: str,
                       batch_size: int = 64, device: torch.device | str = "cpu") -> dict[str, float]:
    """Grathwohl & Wilson eq. 19 and Tables 2-3 on encoded test frames: the natural static/temporal division for a
    model with both groups, the best division of all features otherwise (baselines); held-out split by sequence."""
    features, labels = frame_features(guide, groups, dataset, count, batch_size, torch.device(device))
    frames = dataset[0]["x"].shape[0]
    sequence = np.repeat(np.arange(len(next(iter(features.values()))) // frames), frames)
    y_static, y_temporal = labels[static_target], labels[temporal_target]
    for target, y in ((static_target, y_static), (temporal_target, y_temporal)):
        if len(np.unique(y)) < 2:
            raise NotApplicable(f"eq. 19 needs two classes of {target!r} among the {len(y) // frames} judged sequences; got one")
    if "static" in features and "dynamics" in features:
        result = metrics.disentanglement_score(features["static"], features["dynamics"], y_static, y_temporal, groups=sequence)
        static_accuracy = metrics.static_feature_accuracy(features["static"], y_static, groups=sequence)
    else:
        everything = np.concatenate(list(features.values()), axis=-1)
        result = metrics.best_disentanglement_score(everything, y_static, y_temporal, groups=sequence)
        static_accuracy = metrics.static_feature_accuracy(everything, y_static, groups=sequence)
    return {"d_score": float(result), "a_static": result.a_static, "a_temporal": result.a_temporal, "static_feature_accuracy": static_accuracy}


# ---------------------------------------------------------------- VDSM Table 3 in spirit: FVD in a judge's feature space
FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]  # sequences (B, T, C, H, W) in [0, 1] -> features (B, F)


def _device_of(module: Any) -> torch.device:
    """Device of a module's first parameter; CPU for callables without parameters."""
    parameters = getattr(module, "parameters", None)
    first = next(parameters(), None) if callable(parameters) else None
    return first.device if first is not None else torch.device("cpu")


def _load_module(path: Path, device: torch.device | str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A TorchScript file (torch.jit.save), or a torch.export program for a ``.pt2`` file, in eval mode on ``device``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export
        if path.suffix == ".pt2":
            return torch.export.load(str(path)).module().to(device)
        return torch.jit.load(str(path), map_location=device).eval()


def load_extractor(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> FeatureExtractor:
    """Load a user-supplied feature extractor (e.g. an exported I3D) as a checked (B, T, C, H, W) in [0, 1] -> (B, F) function.

    TorchScript (torch.jit.save) files, or torch.export programs saved as ``.pt2`` (export the batch axis as dynamic).
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"FVD extractor {path} does not exist (expected a TorchScript file written by torch.jit.save)")
    try:
        module = _load_module(path, device)
    except (RuntimeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        kind = "torch.export program" if path.suffix == ".pt2" else "TorchScript module"
        raise EvaluationError(f"FVD extractor {path} is not a loadable {kind}: {reason}") from err

    def extract(x: torch.Tensor) -> torch.Tensor:
        features = module(x.clamp(0, 1).to(device))  # decoded means may overshoot the image range
        if not isinstance(features, torch.Tensor) or features.dim() != 2 or features.shape[0] != x.shape[0]:
            got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            batch = x.shape[0]
            raise EvaluationError(f"FVD extractor {path.name} must map (B, T, C, H, W) to (B, F) features; got {got} for B = {batch}")
        return features.float()

    return extract


def _feature_source(judge: Any, extractor: str | os.PathLike[str] | None, device: torch.device) -> tuple[FeatureExtractor, str, str]:
    """(features function, extractor name, metric name): the TorchScript file when given, else the judge's features."""
    if extractor is not None:
        name = Path(extractor).name
        return load_extractor(extractor, device), name, f"FVD ({name})"
    if judge is None:
        raise EvaluationError("FVD needs a judge with sequence features or an extractor file (a TorchScript module)")
    name = f"{getattr(judge, 'name', '') or type(judge).__name__} judge"
    return judge.features, name, f"FVD-judge ({name})"


@torch.no_grad()
def fvd_judge(model: Callable, judge: Any, dataset: Dataset, count: int, batch_size: int = 32,
              extractor: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """VDSM Table 3 in spirit: Fréchet distance between ``count`` real sequences of ``dataset`` and ``count`` drawn from the prior.

    Features are the judge's per-sequence ``features`` (Sprites: time-averaged frame features + the action head's input,
    so both appearance and motion count) or those of a TorchScript ``extractor``. Returns ``fvd`` (count vs count),
    ``real_vs_real`` (the floor: first vs second half of the real set, disjoint sequences) and ``fvd_half`` (generated
    first half vs real second half: the floor's sample sizes, since the estimate's bias grows as samples shrink).
    Numbers are comparable only between runs with the same features and count.
    """
    if not 4 <= count <= len(dataset):
        raise EvaluationError(f"FVD needs 4 <= count <= {len(dataset)} sequences (two halves of at least 2 for the floor), got {count}")
    device = _device_of(model)
    extract, name, metric = _feature_source(judge, extractor, device)
    seq_len = dataset[0]["x"].shape[0]
    real = torch.cat([extract(batch["x"]).cpu() for batch in batches(dataset, count, batch_size, device)]).double()
    generated = torch.cat([
        extract(model(None, batch_size=min(batch_size, count - start), seq_len=seq_len)).cpu()
        for start in range(0, count, batch_size)
    ]).double()  # fmt: skip
    if real.shape[1] >= count // 2:
        log.warning("%s: %d features from %d sequences per set give singular covariances; use more sequences", metric, real.shape[1], count)
    half = count // 2
    return {
        "metric": metric,
        "fvd": metrics.frechet_distance(real, generated),
        "fvd_half": metrics.frechet_distance(generated[:half], real[half : 2 * half]),
        "real_vs_real": metrics.frechet_distance(real[:half], real[half : 2 * half]),
        "sequences": count,
        "features": int(real.shape[1]),
        "extractor": name,
    }


# ---------------------------------------------------------------- VDSM Table 1 / C-DSVAE: factors from latent embeddings
POOLINGS = ("flatten", "mean")


@torch.no_grad()
def sequence_embeddings(guide: Callable, groups: SiteGroups, dataset: Dataset, count: int, batch_size: int, device: torch.device,
                        pooling: str = "flatten") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One posterior-mean embedding per sequence and latent group (rows = the first ``count`` sequences), with their labels."""
    if pooling not in POOLINGS:
        raise EvaluationError(f"unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
    embeddings: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[np.ndarray]] = {}
    for batch in batches(dataset, count, batch_size, device):
        x = batch["x"]
        per_group: dict[str, dict[str, torch.Tensor]] = {}
        for name, value in posterior_means(guide, x).items():
            index = groups.index(name)
            if index is None:
                raise EvaluationError(f"latent site {name!r} belongs to no latent group of {groups.names}")
            per_group.setdefault(groups.names[index], {})[name] = value
        for group, sites in per_group.items():
            embeddings.setdefault(group, []).append(sequence_embedding(groups.layout(group), sites, x.shape[1], pooling).cpu().numpy())
        for key, value in batch.items():
            if key != "x":
                labels.setdefault(key, []).append(value.cpu().numpy())
    return {k: np.concatenate(v) for k, v in embeddings.items()}, {k: np.concatenate(v) for k, v in labels.items()}


def sequence_factors(labels: Mapping[str, np.ndarray], labels_info: Mapping[str, Any], frames: int,
                     identity: str | None = None) -> dict[str, np.ndarray]:
    """Integer per-sequence factors: scalar labels by key, label vectors by column (Sprites ``attributes`` -> body, ...),
    and the parts of a composite label as ``<key>.<part>`` (``label_parts``: Sprites' action -> action.motion, action.direction).

    The identity label, real-valued labels (positions, angles) and per-frame labels are left out.
    """
    factors: dict[str, np.ndarray] = {}
    for key, values in labels.items():
        if key == identity or not np.issubdtype(values.dtype, np.integer):
            continue
        if values.ndim == 1:
            factors[key] = values
            factors |= {f"{key}.{part}": of(values) for part, of in label_parts(labels_info, key).items()}
        elif values.ndim == 2 and values.shape[1] != frames:
            info = labels_info.get(key, {})
            names = info.get("names") if isinstance(info, Mapping) else None
            names = names if names is not None and len(names) == values.shape[1] else [f"{key}_{i}" for i in range(values.shape[1])]
            factors |= {str(name): values[:, column] for column, name in enumerate(names)}
    return factors


def _held_out_half(labels: Mapping[str, np.ndarray], count: int, identity: str | None) -> tuple[np.ndarray | None, str]:
    """Seeded test mask over half the identities (the ``identity`` label; None: the sequences are independent, split them),
    and what split it; None when there are fewer than two identities to split."""
    if identity is not None and (identity not in labels or labels[identity].ndim != 1):
        raise EvaluationError(f"identity label {identity!r} is not a per-sequence label of this data set (labels: {', '.join(labels)})")
    groups = labels[identity] if identity is not None else None
    if len(np.unique(groups if groups is not None else np.arange(count))) < 2:
        return None, identity or "sequence"
    return metrics.held_out_mask(count, test_fraction=0.5, random_state=0, groups=groups), identity or "sequence"


def embedding_accuracy(guide: Callable, groups: SiteGroups, dataset: Dataset, count: int, batch_size: int = 64,
                       device: torch.device | str = "cpu", factors: Sequence[str] | None = None,
                       pooling: str = "flatten", identity: str | None = None) -> dict[str, Any]:
    """VDSM §4 (3) and Table 1 "ID Acc." / "Dyn. Acc." (also C-DSVAE): how well each latent group's embedding predicts each factor.

    Embeddings are posterior means of the first ``count`` sequences; per-frame groups are flattened over time by
    default (all frames in order: Sprites actions are frame-aligned, and a time average loses the order that tells
    one movement from another), ``pooling="mean"`` averages them. A linear SVM (metrics.embedding_classification_
    accuracy) trains on half of the identities (``identity``: the label naming who a sequence shows, e.g. the
    character; None only for data whose sequences share no identity, then half the sequences) and is scored on the
    others. Returns {"accuracy": {group: {factor: acc}}, "chance": {factor: share of the test half's commonest
    class}, "classes", "dimensions", "split_by", "sequences": {"train", "test"}, "skipped": {factor: reason}}.
    A disentangled model: static high on appearance and near chance on action; dynamics the reverse.
    """
    if not 4 <= count <= len(dataset):
        raise EvaluationError(f"embedding accuracy needs 4 <= count <= {len(dataset)} sequences, got {count}")
    embeddings, labels = sequence_embeddings(guide, groups, dataset, count, batch_size, torch.device(device), pooling)
    available = sequence_factors(labels, getattr(dataset, "labels_info", {}), dataset[0]["x"].shape[0], identity)
    unknown = sorted(set(factors or ()) - set(available))
    if unknown:
        raise EvaluationError(f"unknown factor(s) {', '.join(unknown)}; this data set has: {', '.join(available) or 'none'}")
    chosen = {name: available[name] for name in (factors or available)}
    test, split_by = _held_out_half(labels, count, identity)
    if test is None:
        return {"accuracy": {group: {} for group in embeddings}, "chance": {}, "classes": {}, "split_by": split_by, "pooling": pooling,
                "skipped": {factor: f"the {count} sequences show a single {split_by}: no held-out half" for factor in chosen},
                "dimensions": {group: int(z.shape[1]) for group, z in embeddings.items()}, "sequences": {"train": count, "test": 0}}
    result: dict[str, Any] = {
        "accuracy": {group: {} for group in embeddings}, "chance": {}, "classes": {}, "skipped": {},
        "dimensions": {group: int(z.shape[1]) for group, z in embeddings.items()},
        "split_by": split_by, "sequences": {"train": int((~test).sum()), "test": int(test.sum())}, "pooling": pooling,
    }  # fmt: skip
    for factor, y in chosen.items():
        if len(np.unique(y[~test])) < 2:
            result["skipped"][factor] = "a single class in the training half"
            continue
        result["classes"][factor] = int(len(np.unique(y)))
        result["chance"][factor] = float(np.unique(y[test], return_counts=True)[1].max() / test.sum())
        for group, z in embeddings.items():
            result["accuracy"][group][factor] = metrics.embedding_classification_accuracy(z[~test], y[~test], z[test], y[test])
    return result
