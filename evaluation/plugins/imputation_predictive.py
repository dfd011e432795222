"""DSA Fig. 8 scored on the predictive marginal (ours): the mean pixel probabilities of several prior roll-outs.

§4.3 does not say which prediction of the stochastic model it scores. One roll-out along the prior means
(``imputation``) draws a confident ball where one observed frame cannot tell the velocity; the mean over sampled
roll-outs, thresholded at 0.5, is the prediction with the fewest expected wrong pixels, the quantity a deterministic
baseline trained with a Bernoulli likelihood learns. Not tracked while training: it costs ``draws`` roll-outs.
"""
from __future__ import annotations

from evaluation.plugins.imputation import Imputation


class PredictiveImputation(Imputation):
    """Wrong-pixel fractions of the thresholded mean of 16 sampled roll-outs against the number of missing frames."""

    name = "imputation_predictive"
    order = 111
    tracked = False
    sample, draws = True, 16
    title = "DSA Fig. 8 on the predictive marginal (ours: the mean of sampled roll-outs of the prior dynamics)"
    prediction = f"the mean pixel probabilities of {draws} roll-outs sampling the unobserved latents"
