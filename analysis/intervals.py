"""Intervals for a benchmark score: mean FSR and interquartile mean over tasks x seeds.

The estimators are rliable's (Agarwal et al., 2021), computed with scipy (already pinned; rliable
would add its own dependency tree for two estimators): the score is the mean over tasks of each
task's mean over seeds, and the interquartile mean (IQM) pools every run's score and averages
the middle half (``scipy.stats.trim_mean(x, 0.25)``), robust to a few outlying runs.

The 95% intervals are percentile bootstrap intervals (``scipy.stats.bootstrap``, 2000 resamples,
a fixed seed so a table is reproducible), stratified as rliable's are: tasks are the strata,
each task's seeds are resampled within it. That needs two seeds or more in every task; with
one seed per task there is no seed noise to resample, and the tasks themselves are resampled
instead (the interval then says how much the score depends on which tasks were chosen, and the
IQM is taken over the task means). Which one was used is part of the result (``method``). One
task with one seed has no interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0
IQM_TRIM = 0.25
STRATIFIED = "stratified bootstrap: seeds resampled within each task"
OVER_TASKS = "bootstrap over tasks (one seed per task)"


@dataclass(frozen=True)
class Estimate:
    """A score with its 95% interval (None when the data cannot give one)."""

    value: float
    low: float | None
    high: float | None

    def as_dict(self) -> dict:
        return {"value": self.value, "ci": None if self.low is None else [self.low, self.high]}


def _task_mean(*samples, axis=-1):
    return np.mean([np.mean(s, axis=axis) for s in samples], axis=0)


def _iqm(*samples, axis=-1):
    from scipy.stats import trim_mean

    return trim_mean(np.concatenate(samples, axis=axis), IQM_TRIM, axis=axis)


def _bootstrap(samples: tuple[np.ndarray, ...], statistic) -> tuple[float | None, float | None]:
    from scipy.stats import bootstrap

    result = bootstrap(
        samples,
        statistic,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(SEED),
    )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def score_intervals(scores: dict[int, list[float]]) -> tuple[Estimate, Estimate, str | None]:
    """(mean FSR, IQM, interval method) of per-task lists of run scores (every declared seed, zeros included)."""
    tasks = [np.asarray(v, dtype=float) for _, v in sorted(scores.items()) if len(v)]
    if not tasks:
        return Estimate(0.0, None, None), Estimate(0.0, None, None), None
    if all(len(t) >= 2 for t in tasks):
        samples, method = tuple(tasks), STRATIFIED
    else:  # one run in some task: each task's mean is one observation, the tasks are resampled
        samples, method = (np.array([t.mean() for t in tasks]),), OVER_TASKS
    mean, iqm = float(_task_mean(*samples)), float(_iqm(*samples))
    if method == OVER_TASKS and len(tasks) < 2:
        return Estimate(mean, None, None), Estimate(iqm, None, None), None
    (m_lo, m_hi), (i_lo, i_hi) = (_bootstrap(samples, s) for s in (_task_mean, _iqm))
    return Estimate(mean, m_lo, m_hi), Estimate(iqm, i_lo, i_hi), method
