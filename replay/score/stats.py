"""Timing statistics: validity by one-sided t-test, FSR and bootstrap confidence intervals.

- Validity follows the speedrun's rule: the MEAN final validation loss over runs must be at
  most the target; with two or more runs the one-sided t-test of "mean < target" must give
  p < 0.01.
- FSR = (t_i - t') / (t_i - t_{i+1}) for mean times of baseline (record i), ground truth
  (record i+1) and candidate.
- Confidence intervals come from a percentile bootstrap that resamples each side's runs
  independently, with a fixed seed so reports are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VALIDITY_P = 0.01
BOOTSTRAP_SAMPLES = 10_000
CONFIDENCE = 0.95


def mean_sd(xs: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``None`` for a single value)."""
    mean = sum(xs) / len(xs)
    if len(xs) < 2:
        return mean, None
    return mean, math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def p_below(xs: list[float], target: float) -> float | None:
    """One-sided p-value of the t-test H0: mean >= target vs H1: mean < target."""
    if len(xs) < 2:
        return None
    mean, sd = mean_sd(xs)
    if sd == 0:
        return 0.0 if mean < target else 1.0
    t = (mean - target) / (sd / math.sqrt(len(xs)))
    return student_t_cdf(t, len(xs) - 1)


@dataclass(frozen=True)
class Validity:
    """Whether a side's runs meet the target, and the evidence."""

    valid: bool
    mean_val_loss: float
    p_value: float | None


def validity(val_losses: list[float], target: float) -> Validity:
    mean, _ = mean_sd(val_losses)
    p = p_below(val_losses, target)
    ok = mean <= target and (p is None or p < VALIDITY_P)
    return Validity(ok, mean, p)


def fsr(t_base: float, t_truth: float, t_candidate: float) -> float | None:
    """Fraction of speedup recovered; ``None`` when the ground truth is no faster."""
    gap = t_base - t_truth
    return (t_base - t_candidate) / gap if gap > 0 else None


def _bootstrap_means(xs: list[float], rng: np.random.Generator) -> np.ndarray:
    arr = np.asarray(xs, dtype=float)
    picks = rng.integers(0, len(arr), size=(BOOTSTRAP_SAMPLES, len(arr)))
    return arr[picks].mean(axis=1)


def _interval(samples: np.ndarray) -> tuple[float, float] | None:
    samples = samples[np.isfinite(samples)]
    if samples.size < BOOTSTRAP_SAMPLES // 2:
        return None  # too many resamples with no speedup at all: no meaningful interval
    alpha = (1 - CONFIDENCE) / 2
    return float(np.quantile(samples, alpha)), float(np.quantile(samples, 1 - alpha))


def fsr_interval(
    base: list[float], truth: list[float], candidate: list[float], seed: int = 0
) -> tuple[float, float] | None:
    """Bootstrap CI of FSR; ``None`` with fewer than two runs on any side."""
    if min(len(base), len(truth), len(candidate)) < 2:
        return None
    rng = np.random.default_rng(seed)
    b, g, c = (_bootstrap_means(xs, rng) for xs in (base, truth, candidate))
    gap = b - g
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(gap > 0, (b - c) / gap, np.nan)
    return _interval(ratios)


def difference_interval(slower: list[float], faster: list[float], seed: int = 0) -> tuple[float, float] | None:
    """Bootstrap CI of mean(slower) - mean(faster); ``None`` with fewer than two runs a side."""
    if min(len(slower), len(faster)) < 2:
        return None
    rng = np.random.default_rng(seed)
    return _interval(_bootstrap_means(slower, rng) - _bootstrap_means(faster, rng))


def speedup_verdict(ci: tuple[float, float]) -> str:
    """What a CI of t_start - t_target says: 'faster', 'within noise' (it holds 0) or 'slower'."""
    low, high = ci
    return "slower" if high < 0 else "within noise" if low <= 0 else "faster"
