"""Evaluation metrics (issue 4) on constructed cases whose answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from data.speech_trials import build_trials
from evaluation import metrics as m

K = 6


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def random_probabilities(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Seeded random class probabilities with classes last."""
    return softmax(3 * np.random.default_rng(seed).normal(size=shape))


def confident_balanced(per_class: int, classes: int = K) -> np.ndarray:
    """One-hot predictions, every class equally often."""
    return np.eye(classes)[np.repeat(np.arange(classes), per_class)]


# ---------------------------------------------------------------- DSA Table 1


def test_perfect_judge_on_real_data_gives_no_disagreement_and_zero_kl():
    p_data = random_probabilities((12, 8, K))  # (sequences, frames, classes)
    assert m.disagreement_rate(p_data, p_data) == 0.0
    assert m.kl_recon(p_data, p_data) == pytest.approx(0.0, abs=1e-12)
    assert m.kl_recon(torch.tensor(p_data), torch.tensor(p_data)) == pytest.approx(0.0, abs=1e-12)


def test_disagreement_counts_frames_with_another_argmax():
    p_data = np.eye(K)[np.arange(40) % K]
    p_recon = p_data.copy()
    p_recon[:10] = np.roll(p_recon[:10], 1, axis=1)  # 10 of 40 frames predicted as another class
    assert m.disagreement_rate(p_recon, p_data) == pytest.approx(0.25)


def test_kl_recon_matches_hand_computation():
    p_recon, p_data = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert m.kl_recon(p_recon, p_data) == pytest.approx(expected, rel=1e-12)


def test_kl_random_of_uniform_data_is_zero():
    assert m.kl_random(np.full((5, K), 1 / K)) == pytest.approx(0.0, abs=1e-12)


def test_kl_random_of_confident_data_follows_its_tail():
    # KL[uniform || p] = -ln K - (1/K) sum_i ln p_i. For p = (1 - (K-1) d, d, ..., d) it is about
    # ((K-1)/K) ln(1/d) - ln K: unbounded as d -> 0 (DSA Table 1 reports 8.9 for 6 classes); it is
    # KL[p || uniform] that tends to ln K.
    d = 1e-6
    p = np.full((3, K), d)
    p[:, 0] = 1 - (K - 1) * d
    expected = -math.log(K) - (math.log(1 - (K - 1) * d) + (K - 1) * math.log(d)) / K
    assert m.kl_random(p) == pytest.approx(expected, rel=1e-9)
    one_hot = np.eye(K)[[0, 1, 2]]  # log(0) floored at EPS
    assert m.kl_random(one_hot) == pytest.approx(-math.log(K) - (K - 1) / K * math.log(m.EPS), rel=1e-9)
    assert m.kl_random(one_hot, eps=1e-6) < m.kl_random(one_hot)


def test_table1_metrics_reject_logits_and_shape_mismatch():
    with pytest.raises(ValueError, match="softmax"):
        m.disagreement_rate(np.array([[2.0, -1.0]]), np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="shape"):
        m.kl_recon(np.full((2, 3), 1 / 3), np.full((3, 3), 1 / 3))


# ---------------------------------------------------------------- VDSM Tables 1-2, C-DSVAE protocol


def test_uniform_judge_scores_one_and_full_entropies():
    uniform = np.full((30, K), 1 / K)
    assert m.inception_score(uniform) == pytest.approx(1.0)
    assert m.inter_entropy(uniform) == pytest.approx(math.log(K))
    assert m.intra_entropy(uniform) == pytest.approx(math.log(K))


def test_confident_balanced_judge_reaches_the_ceilings():
    p = confident_balanced(5)
    assert m.inception_score(p) == pytest.approx(K)
    assert m.inter_entropy(p) == pytest.approx(math.log(K))
    assert m.intra_entropy(p) == pytest.approx(0.0, abs=1e-12)
    nearly = 0.999 * p + 0.001 / K
    assert m.intra_entropy(nearly) < 0.01
    assert m.inception_score(nearly) == pytest.approx(K, rel=0.02)


def test_confident_judge_that_always_says_one_class_scores_one():
    p = np.eye(K)[np.zeros(20, dtype=int)]
    assert m.inception_score(p) == pytest.approx(1.0)
    assert m.inter_entropy(p) == pytest.approx(0.0, abs=1e-12)


def test_inception_score_is_exp_mean_kl_to_the_marginal():
    p = random_probabilities((50, K), seed=3)
    marginal = p.mean(axis=0)
    mean_kl = np.mean(np.sum(p * np.log(p / marginal), axis=1))
    assert m.inception_score(p) == pytest.approx(math.exp(mean_kl), rel=1e-10)
    assert m.inception_score(p) == pytest.approx(math.exp(m.inter_entropy(p) - m.intra_entropy(p)), rel=1e-10)


def test_ceilings_clip_float_noise_and_raise_beyond_it():
    assert m._check_ceiling(math.log(K) * (1 + 1e-9), math.log(K), "H(y)") == math.log(K)
    with pytest.raises(ValueError, match="ceiling"):
        m._check_ceiling(math.log(K) + 0.01, math.log(K), "H(y)")


def test_consistency_accuracy_against_labels_and_real_predictions():
    labels = np.arange(20) % K
    p_generated = np.eye(K)[labels]
    p_generated[:5] = np.roll(p_generated[:5], 1, axis=1)  # 5 of 20 generated samples misjudged
    assert m.consistency_accuracy(p_generated, labels) == pytest.approx(0.75)
    assert m.consistency_accuracy(p_generated, np.eye(K)[labels]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="target"):
        m.consistency_accuracy(p_generated, labels[:3])


def test_embedding_accuracy_high_for_the_encoded_factor_and_chance_for_another():
    rng = np.random.default_rng(0)
    identity, action = np.arange(400) % 4, (np.arange(400) // 4) % 3
    embedding = np.eye(4)[identity] + 0.05 * rng.normal(size=(400, 4))
    train, test = slice(0, 300), slice(300, 400)
    assert m.embedding_classification_accuracy(embedding[train], identity[train], embedding[test], identity[test]) == 1.0
    on_action = m.embedding_classification_accuracy(embedding[train], action[train], embedding[test], action[test])
    assert on_action < 0.5  # chance is 1/3


# ---------------------------------------------------------------- Grathwohl & Wilson eq. 19, Tables 2-3

DIGITS, CELLS, REPEATS = 10, 9, 4


def bouncing_labels() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (digit, location cell) pair REPEATS times; the last repeat is the balanced held-out part."""
    digit, cell, repeat = (a.ravel() for a in np.meshgrid(np.arange(DIGITS), np.arange(CELLS), np.arange(REPEATS)))
    return digit, cell, repeat == REPEATS - 1


def circle_code(labels: np.ndarray, classes: int, radius: float = 3.0) -> np.ndarray:
    """Two columns placing class k at angle 2 pi k / classes: linearly separable one-vs-rest."""
    angle = 2 * math.pi * labels / classes
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def test_label_copying_representation_reaches_the_maximum_d_score():
    # Eq. 19 with perfect accuracy on the own factor and chance (1/K, exact on a balanced held-out set)
    # on the other: a_s = 1 / (1/9) = 9, a_t = 1 / (1/10) = 10, score = sqrt(90) ~ 9.49.
    digit, cell, test = bouncing_labels()
    result = m.disentanglement_score(np.eye(DIGITS)[digit], np.eye(CELLS)[cell], digit, cell, test_mask=test)
    assert result.accuracies == pytest.approx(
        {"static_on_static": 1.0, "static_on_temporal": 1 / CELLS, "temporal_on_temporal": 1.0, "temporal_on_static": 1 / DIGITS}
    )
    assert (result.a_static, result.a_temporal) == pytest.approx((CELLS, DIGITS))
    assert float(result) == pytest.approx(math.sqrt(CELLS * DIGITS))
    swapped = m.disentanglement_score(np.eye(CELLS)[cell], np.eye(DIGITS)[digit], digit, cell, test_mask=test)
    assert float(swapped) == pytest.approx(1 / math.sqrt(CELLS * DIGITS))


def test_best_division_finds_the_static_and_temporal_columns():
    digit, cell, test = bouncing_labels()
    static, temporal = circle_code(digit, DIGITS), circle_code(cell, CELLS)
    features = np.stack([temporal[:, 0], static[:, 0], temporal[:, 1], static[:, 1]], axis=1)  # interleaved
    best = m.best_disentanglement_score(features, digit, cell, test_mask=test)
    assert (best.static_columns, best.temporal_columns) == ((1, 3), (0, 2))
    assert best.score == pytest.approx(math.sqrt(CELLS * DIGITS))
    natural = m.disentanglement_score(features[:, [1, 3]], features[:, [0, 2]], digit, cell, test_mask=test)
    assert natural.score == pytest.approx(best.score)


def test_best_division_refuses_too_many_columns():
    with pytest.raises(ValueError, match="divisions"):
        m.best_disentanglement_score(np.zeros((4, m.MAX_DIVISION_FEATURES + 1)), [0, 1, 0, 1], [0, 0, 1, 1])


def test_static_feature_accuracy_and_grouped_held_out_split():
    digit, cell, _ = bouncing_labels()
    sequence = np.arange(len(digit)) // 6
    assert m.static_feature_accuracy(np.eye(DIGITS)[digit], digit, groups=sequence) == 1.0
    mask = m.held_out_mask(len(digit), 0.25, random_state=1, groups=sequence)
    assert all(len(set(mask[sequence == s])) == 1 for s in np.unique(sequence))  # no sequence straddles the split
    assert mask.sum() == 6 * round(0.25 * len(np.unique(sequence)))
    assert np.array_equal(mask, m.held_out_mask(len(digit), 0.25, random_state=1, groups=sequence))
    with pytest.raises(ValueError, match="single class"):
        m.static_feature_accuracy(np.eye(DIGITS)[digit], np.zeros_like(digit))


# ---------------------------------------------------------------- DSA Table 2: EER


def test_eer_of_separable_inverted_and_random_scores():
    same = np.r_[np.ones(50, bool), np.zeros(70, bool)]
    separable = np.r_[np.linspace(0.6, 1.0, 50), np.linspace(-1.0, 0.5, 70)]
    assert m.equal_error_rate(separable, same) == 0.0
    assert m.equal_error_rate(-separable, same) == 1.0
    rng = np.random.default_rng(0)
    noise_same = rng.random(4000) < 0.5
    assert m.equal_error_rate(rng.normal(size=4000), noise_same) == pytest.approx(0.5, abs=0.03)


def test_eer_hand_cases_with_ties_and_interpolation():
    assert m.equal_error_rate([0.9, 0.7, 0.6, 0.4, 0.3, 0.1], [1, 0, 1, 1, 0, 0]) == pytest.approx(1 / 3)
    # FRR - FAR jumps from 1/6 to -1/3 between two thresholds: interpolated, both rates are 1/3 there.
    assert m.equal_error_rate([0.8, 0.7, 0.6, 0.2, 0.1], [1, 0, 1, 0, 0]) == pytest.approx(1 / 3)
    assert m.equal_error_rate([0.5, 0.5], [True, False]) == pytest.approx(0.5)  # one tie: FAR = FRR halfway
    with pytest.raises(ValueError, match="both"):
        m.equal_error_rate([0.1, 0.2], [True, True])


def speech_labels() -> tuple[np.ndarray, np.ndarray]:
    """Per-segment utterance and speaker ids: 4 speakers x 5 utterances x 3 segments."""
    utterance = np.repeat(np.arange(20), 3)
    return utterance, utterance // 5


def test_identical_speaker_features_give_zero_eer():
    utterance, speaker = speech_labels()
    rng = np.random.default_rng(0)
    segments = np.eye(4)[speaker][:, None, :] + 0.01 * rng.normal(size=(len(speaker), 5, 4))  # (N, T, d), mu_z style
    means = m.utterance_means(segments, utterance)
    assert set(means) == set(range(20)) and means[7].shape == (4,)
    trials = build_trials(utterance, speaker, mode="all")
    scores = m.cosine_scores(means, trials)
    assert scores.shape == trials["same_speaker"].shape
    assert scores[trials["same_speaker"]].min() > 0.99 and np.abs(scores[~trials["same_speaker"]]).max() < 0.05
    assert m.speaker_verification_eer(means, trials) == 0.0
    ids = np.array(sorted(means))
    as_pair = (ids, np.stack([means[i] for i in ids]))
    assert np.allclose(m.cosine_scores(as_pair, trials), scores)


def test_cosine_scores_name_a_missing_utterance():
    utterance, speaker = speech_labels()
    trials = build_trials(utterance, speaker)
    with pytest.raises(ValueError, match="no features for utterance"):
        m.cosine_scores({0: np.ones(3)}, trials)


# ---------------------------------------------------------------- DSA Fig. 8


def test_wrong_pixel_fraction_of_identical_and_flipped_frames():
    rng = np.random.default_rng(0)
    frames = (rng.random((3, 30, 1, 8, 8)) > 0.8).astype(np.float32)
    assert m.wrong_pixel_fraction(frames, frames) == 0.0
    assert m.wrong_pixel_fraction(1 - frames, frames) == 1.0
    blurred = 0.6 * frames + 0.2  # pixel means on the right side of 0.5
    assert m.wrong_pixel_fraction(torch.tensor(blurred), torch.tensor(frames)) == 0.0
    flipped = frames.copy()
    flipped[0, 0, 0, :2, :] = 1 - flipped[0, 0, 0, :2, :]  # 16 of 5760 pixels
    assert m.wrong_pixel_fraction(flipped, frames) == pytest.approx(16 / frames.size)


def test_wrong_pixel_curve_by_number_of_missing_frames():
    target = np.zeros((2, 10, 4, 4))
    predictions = {}
    for missing in (2, 5):
        predicted = target.copy()
        predicted[:, 10 - missing :] = 1.0  # every missing frame predicted wrong, observed ones right
        predictions[missing] = predicted
    assert m.wrong_pixel_curve(predictions, target) == pytest.approx({2: 0.2, 5: 0.5})
    assert m.wrong_pixel_curve(predictions, target, missing_only=True) == pytest.approx({2: 1.0, 5: 1.0})


# ---------------------------------------------------------------- Fréchet distance


def whitened(count: int, width: int, seed: int) -> np.ndarray:
    """Samples with exactly zero mean and identity (ddof = 1) covariance."""
    z = np.random.default_rng(seed).normal(size=(count, width))
    z -= z.mean(axis=0)
    return z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = np.random.default_rng(0).normal(size=(200, 5)) @ np.random.default_rng(1).normal(size=(5, 5))
    assert m.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_shifted_gaussians_is_the_squared_shift():
    a = np.random.default_rng(0).normal(size=(300, 4))
    shift = np.array([1.0, -2.0, 0.5, 3.0])
    assert m.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-8)


def test_frechet_distance_closed_form_for_diagonal_covariances():
    a = whitened(500, 3, seed=2)
    scales, shift = np.array([0.5, 1.0, 2.0]), np.array([0.0, 1.0, 0.0])
    expected = shift @ shift + np.sum((1 - scales) ** 2)  # |dmu|^2 + sum (sigma_a - sigma_b)^2
    assert m.frechet_distance(a, a * scales + shift) == pytest.approx(expected, rel=1e-9)
    assert m.frechet_distance(a * scales + shift, a) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_the_matrix_square_root_formula():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(4)
    a = rng.normal(size=(400, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4)) + 1.0
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(scipy_linalg.sqrtm(cov_a @ cov_b))
    gap = a.mean(axis=0) - b.mean(axis=0)
    expected = gap @ gap + np.trace(cov_a + cov_b - 2 * root)
    assert m.frechet_distance(a, b) == pytest.approx(expected, rel=1e-7)
