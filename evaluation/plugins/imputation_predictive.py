"""DSA Fig. 8 scored on the predictive marginal (ours): the mean pixel probabilities of several prior roll-outs.

§4.3 does not say which prediction of the stochastic model it scores. One roll-out along the prior means
(``imputation``) draws a confident ball where one observed frame cannot tell the velocity; the mean over sampled
roll-outs, thresholded at 0.5, is the prediction with the fewest expected wrong pixels, the quantity a deterministic
baseline trained with a Bernoulli likelihood learns. Not tracked while training: it costs ``DRAWS`` roll-outs.
"""
from __future__ import annotations

from evaluation.imputation import imputation_curve
from evaluation.plugins.base import Context
from evaluation.plugins.imputation import Imputation


class PredictiveImputation(Imputation):
    """Wrong-pixel fractions of the thresholded mean of ``DRAWS`` sampled roll-outs against the number of missing frames."""

    name = "imputation_predictive"
    order = 111
    tracked = False
    DRAWS = 16
    title = "DSA Fig. 8 on the predictive marginal (ours: the mean of sampled roll-outs of the prior dynamics)"
    prediction = f"the mean pixel probabilities of {DRAWS} roll-outs sampling the unobserved latents"

    def compute(self, ctx: Context) -> dict:
        return imputation_curve(ctx.model, ctx.guide, ctx.groups, ctx.dataset, ctx.count, ctx.options.batch_size, ctx.device,
                                sample=True, draws=self.DRAWS)
