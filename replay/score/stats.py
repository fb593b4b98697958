"""Timing statistics, from scipy.stats: validity, differences of times, and FSR with intervals.

**One estimator: the mean.** A side's time is the mean of its completed runs; a speedup is the
difference of means t_a - t_b and its ratio the ratio of means; FSR is the ratio of mean
differences. (A record's *official* time stays the median of its runs, the speedrun's way of
naming one number per record; no interval here is about medians.)

- **Validity** (the speedrun's rule): the mean final validation loss is at most the target and,
  with two or more runs, the one-sided t-test of "mean < target" gives p < 0.01
  (``scipy.stats.ttest_1samp(..., alternative="less")``).
- **Differences t_a - t_b**, two 95% intervals. *Unpaired*: Welch's t interval
  (``ttest_ind(equal_var=False)``), honest at 3-5 runs under normal noise with unequal
  variances. *Paired*: runs are interleaved in rounds (A B C, A B C, ...) and round k of every
  side uses seed k, so round k's runs share the machine's state and the init seed; the t
  interval of the per-round differences (``ttest_rel``) removes what the rounds share. The
  Wilcoxon signed-rank test's exact one-sided p (``scipy.stats.wilcoxon``) stands beside it as a
  check that does not assume normal differences (with 5 rounds it cannot go below 1/32).
  The verdict uses the paired interval when the rounds are complete (every round has a
  completed run on both sides), else Welch's.
- **FSR** = (t_i - t') / (t_i - t_{i+1}) of means, with Fieller's 95% interval for a ratio of
  means. Why Fieller rather than a bootstrap: with 3-5 runs a side a bootstrap resamples too few
  distinct values and comes out too narrow (the old percentile bootstrap did), while Fieller's
  interval is exact for normal noise, needs no resampling, and is unbounded precisely when the
  ground truth's speedup itself is not significant — which is then reported as no interval.
  Paired, it uses the per-round differences and their covariance (n - 1 degrees of freedom);
  unpaired, the three sides' variances of the mean (the baseline is shared by numerator and
  denominator) with Welch-Satterthwaite degrees of freedom at the estimate.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

VALIDITY_P = 0.01
CONFIDENCE = 0.95
MIN_SPEEDUP = 1 / 0.95  # "at least 5% faster": at most 95% of the start's mean time


def _scipy():
    """scipy.stats, imported on first use: importing it costs half a second that every command
    would otherwise pay, --help included."""
    from scipy import stats

    return stats


@contextmanager
def _exact_ties_are_fine():
    """One side's runs may all take exactly the same time (a deterministic script): a variance of
    0 is the right answer, and scipy's warning that such data lose precision says nothing here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        yield


def mean_sd(xs: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``None`` for a single value)."""
    return float(np.mean(xs)), (float(np.std(xs, ddof=1)) if len(xs) > 1 else None)


@dataclass(frozen=True)
class Validity:
    """Whether a side's runs meet the target, and the evidence."""

    valid: bool
    mean_val_loss: float
    p_value: float | None


def p_below(xs: list[float], target: float) -> float | None:
    """One-sided p of the t-test H0: mean >= target against H1: mean < target (None: one run)."""
    if len(xs) < 2:
        return None
    if not _spread(xs):  # no spread: the test is undefined, the answer is not
        return 0.0 if xs[0] < target else 1.0
    return float(_scipy().ttest_1samp(xs, target, alternative="less").pvalue)


def validity(val_losses: list[float], target: float) -> Validity:
    mean, _ = mean_sd(val_losses)
    p = p_below(val_losses, target)
    return Validity(mean <= target and (p is None or p < VALIDITY_P), mean, p)


@dataclass(frozen=True)
class Difference:
    """t_a - t_b, mean against mean, with its 95% intervals."""

    estimate: float  # mean(a) - mean(b), seconds
    ratio: float | None  # mean(a) / mean(b): how many times faster b is
    unpaired: tuple[float, float] | None  # Welch's t interval (None with fewer than 2 runs a side)
    paired: tuple[float, float] | None  # t interval of the per-round differences (None: under 2 rounds)
    wilcoxon_p: float | None  # exact one-sided p of "a is slower than b" from the per-round differences
    rounds: int  # rounds with a completed run on both sides
    complete: bool  # every round has a completed run on both sides

    @property
    def method(self) -> str:
        """The interval the verdict uses: ``paired`` when the rounds are complete, else ``Welch``."""
        return "paired" if self.complete and self.paired is not None else "Welch"

    @property
    def interval(self) -> tuple[float, float] | None:
        return self.paired if self.method == "paired" else self.unpaired

    def significant_speedup(self, interval: tuple[float, float] | None = None) -> bool:
        """The benchmark's claim of a task: b is at least 5% faster by mean and the 95% interval of
        t_a - t_b (the verdict's, unless another is given) lies above 0."""
        ci = interval if interval is not None else self.interval
        return ci is not None and ci[0] > 0 and self.ratio is not None and self.ratio >= MIN_SPEEDUP


def difference(a: dict[int, float], b: dict[int, float], rounds: int) -> Difference:
    """Compare two sides' completed runs, each given as {round: time}, out of ``rounds`` planned."""
    xs, ys = list(a.values()), list(b.values())
    shared = sorted(set(a) & set(b))
    unpaired = None
    if len(xs) > 1 and len(ys) > 1 and (_spread(xs) or _spread(ys)):
        with _exact_ties_are_fine():
            unpaired = _interval(_scipy().ttest_ind(xs, ys, equal_var=False))
    paired, wilcoxon_p = None, None
    if len(shared) > 1:
        da, db = [a[k] for k in shared], [b[k] for k in shared]
        if _spread(np.subtract(da, db)):
            paired = _interval(_scipy().ttest_rel(da, db))
        if any(x != y for x, y in zip(da, db, strict=True)):
            wilcoxon_p = float(_scipy().wilcoxon(da, db, alternative="greater").pvalue)
    ratio = float(np.mean(xs) / np.mean(ys)) if xs and ys and np.mean(ys) > 0 else None
    estimate = float(np.mean(xs) - np.mean(ys)) if xs and ys else math.nan
    complete = len(shared) == rounds and len(xs) == len(ys) == rounds
    return Difference(estimate, ratio, unpaired, paired, wilcoxon_p, len(shared), complete)


def _spread(values) -> bool:
    """Whether values differ beyond floating-point noise (a t statistic needs a spread)."""
    values = np.asarray(values, dtype=float)
    return bool(np.ptp(values) > 1e-9 * max(1.0, float(np.max(np.abs(values)))))


def _interval(result) -> tuple[float, float]:
    ci = result.confidence_interval(CONFIDENCE)
    return float(ci.low), float(ci.high)


def fsr(t_base: float, t_truth: float, t_candidate: float) -> float | None:
    """Fraction of speedup recovered; ``None`` when the ground truth is no faster."""
    gap = t_base - t_truth
    return (t_base - t_candidate) / gap if gap > 0 else None


def fsr_interval(
    base: dict[int, float], truth: dict[int, float], candidate: dict[int, float], paired: bool
) -> tuple[float, float] | None:
    """Fieller's 95% interval of FSR (see the module docstring); ``None`` when it is unbounded
    (the ground truth's speedup is not significant) or there are too few runs."""
    if paired:
        rounds = sorted(set(base) & set(truth) & set(candidate))
        if len(rounds) < 2:
            return None
        num = np.array([base[k] - candidate[k] for k in rounds])
        den = np.array([base[k] - truth[k] for k in rounds])
        n = len(rounds)
        cov = np.cov(num, den, ddof=1) / n
        return _fieller(num.mean(), den.mean(), cov[0, 0], cov[1, 1], cov[0, 1], n - 1)
    sides = [np.array(list(side.values())) for side in (base, truth, candidate)]
    if min(len(s) for s in sides) < 2:
        return None
    b, t, c = sides
    var_b, var_t, var_c = (s.var(ddof=1) / len(s) for s in sides)
    num, den = b.mean() - c.mean(), b.mean() - t.mean()
    # Welch-Satterthwaite degrees of freedom of num - rho * den at the estimate rho = num / den:
    # its variance is (1 - rho)^2 var_b + rho^2 var_t + var_c.
    rho = num / den if den else 0.0
    parts = [((1 - rho) ** 2 * var_b, len(b)), (rho**2 * var_t, len(t)), (var_c, len(c))]
    total = sum(v for v, _ in parts)
    df = total**2 / sum(v**2 / (k - 1) for v, k in parts) if total > 0 else min(len(s) for s in sides) - 1
    return _fieller(num, den, var_b + var_c, var_b + var_t, var_b, df)


def _fieller(num: float, den: float, v_num: float, v_den: float, cov: float, df: float) -> tuple[float, float] | None:
    """The set of rho with (num - rho*den)^2 <= t^2 * (v_num - 2 rho cov + rho^2 v_den)."""
    t2 = _scipy().t.ppf(0.5 + CONFIDENCE / 2, df) ** 2
    a = den * den - t2 * v_den
    if a <= 0:  # the denominator is not significantly away from 0: the interval is unbounded
        return None
    b = num * den - t2 * cov
    c = num * num - t2 * v_num
    root = math.sqrt(max(b * b - a * c, 0.0))
    return float((b - root) / a), float((b + root) / a)


def speedup_verdict(ci: tuple[float, float]) -> str:
    """What a CI of t_start - t_target says: 'faster', 'within noise' (it holds 0) or 'slower'."""
    low, high = ci
    return "slower" if high < 0 else "within noise" if low <= 0 else "faster"
