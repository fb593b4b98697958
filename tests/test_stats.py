"""The statistics are right and honest at 3-5 runs: our wrappers give scipy's and the textbook's
numbers on known data (the validity t-test, Welch's and the paired interval, Wilcoxon, Fieller's
interval of FSR), and by simulation the 95% intervals cover the true difference and the true FSR
93-97% of the time with 3 and with 5 runs a side."""

import math

import numpy as np
import pytest
from scipy import stats

from replay.score.stats import difference, fsr, fsr_interval, mean_sd, p_below, validity


def rounds(*times: float) -> dict[int, float]:
    return dict(enumerate(times))


def test_mean_sd():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_sd([5.0]) == (5.0, None)


def test_validity_single_run_uses_mean_only():
    assert validity([3.279], 3.28).valid and not validity([3.281], 3.28).valid


def test_validity_is_the_one_sided_t_test():
    # mean 3.2795 is below 3.28, but far from significantly so: the speedrun's rule says invalid.
    assert not validity([3.277, 3.282], 3.28).valid
    clearly = validity([3.270, 3.271, 3.272], 3.28)
    assert clearly.valid and clearly.p_value < 0.01
    # t = (3.271 - 3.28) / (0.001 / sqrt 3) = -15.59 with 2 degrees of freedom
    assert clearly.p_value == pytest.approx(stats.t.cdf(-9 * math.sqrt(3), 2))
    losses = [3.27, 3.29, 3.25, 3.26]
    assert p_below(losses, 3.28) == pytest.approx(stats.ttest_1samp(losses, 3.28, alternative="less").pvalue)


def test_p_below_zero_variance():
    assert p_below([3.0, 3.0], 3.28) == 0.0
    assert p_below([3.3, 3.3], 3.28) == 1.0


def test_welch_and_paired_intervals_match_the_textbook():
    a, b = [10.0, 10.6, 9.7, 10.3], [9.1, 9.9, 8.6, 9.8]
    d = difference(rounds(*a), rounds(*b), rounds=4)
    # Welch: mean difference +- t(df) * sqrt(sa^2/na + sb^2/nb), Welch-Satterthwaite df
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 4
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 3)
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert d.estimate == pytest.approx(np.mean(a) - np.mean(b))
    assert d.unpaired == pytest.approx((d.estimate - half, d.estimate + half))
    # paired: the t interval of the per-round differences, n - 1 degrees of freedom
    diffs = np.subtract(a, b)
    half = stats.t.ppf(0.975, 3) * diffs.std(ddof=1) / 2
    assert d.paired == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    assert d.wilcoxon_p == pytest.approx(stats.wilcoxon(a, b, alternative="greater").pvalue) == 1 / 16
    assert d.ratio == pytest.approx(np.mean(a) / np.mean(b)) and d.complete and d.method == "paired"


def test_pairing_removes_what_a_round_shares():
    # every round is slow or fast for both sides alike: unpaired this is noise, paired it is not
    machine = [0.0, 8.0, -6.0, 3.0, -4.0]
    a = rounds(*(100 + m + e for m, e in zip(machine, [0.3, -0.2, 0.1, -0.3, 0.2], strict=True)))
    b = rounds(*(97 + m + e for m, e in zip(machine, [-0.1, 0.2, 0.0, 0.3, -0.2], strict=True)))
    d = difference(a, b, rounds=5)
    assert d.unpaired[0] < 0 < 3 < d.unpaired[1]
    assert 0 < d.paired[0] < 3 < d.paired[1] and d.interval == d.paired


def test_incomplete_rounds_fall_back_to_welch():
    d = difference(rounds(10.0, 10.2, 9.9), {0: 8.0, 2: 8.1}, rounds=3)  # round 1 failed on one side
    assert not d.complete and d.method == "Welch" and d.interval == d.unpaired and d.rounds == 2
    assert difference(rounds(10.0), rounds(8.0), rounds=1).interval is None  # one run a side: no interval


def test_fsr_definition():
    assert fsr(100.0, 60.0, 80.0) == pytest.approx(0.5)
    assert fsr(100.0, 60.0, 60.0) == pytest.approx(1.0)
    assert fsr(100.0, 60.0, 110.0) == pytest.approx(-0.25)
    assert fsr(100.0, 100.0, 90.0) is None


@pytest.mark.parametrize("paired", [True, False])
def test_fieller_interval_is_the_set_of_ratios_the_t_test_does_not_reject(paired):
    base, truth, cand = (
        rounds(100.0, 103.0, 98.0, 101.0),
        rounds(60.0, 62.5, 59.0, 61.0),
        rounds(81.0, 82.0, 78.0, 80.5),
    )
    lo, hi = fsr_interval(base, truth, cand, paired=paired)
    estimate = fsr(*(np.mean(list(side.values())) for side in (base, truth, cand)))
    assert lo < estimate < hi and hi - lo < 0.5
    if paired:  # at each end the paired t statistic of num - rho * den is exactly the 97.5% quantile
        num = np.array([base[k] - cand[k] for k in base])
        den = np.array([base[k] - truth[k] for k in base])
        for rho in (lo, hi):
            t = stats.ttest_1samp(num - rho * den, 0.0).statistic
            assert abs(t) == pytest.approx(stats.t.ppf(0.975, 3))


def test_fieller_is_unbounded_when_the_ground_truth_is_within_noise():
    base, truth, cand = rounds(100.0, 110.0, 90.0), rounds(99.0, 111.0, 92.0), rounds(95.0, 104.0, 91.0)
    assert fsr_interval(base, truth, cand, paired=False) is None
    assert fsr_interval(rounds(100.0), truth, cand, paired=False) is None


def simulate(n: int, replays: int = 2000, shared_sd: float = 0.0, seed: int = 0):
    """Replays with normal noise: base 100 s, ground truth 60 s, candidate 80 s (true FSR 0.5)."""
    rng = np.random.default_rng(seed)
    for _ in range(replays):
        machine = rng.normal(0, shared_sd, n)  # what a round's runs share
        yield [rounds(*(mean + machine + rng.normal(0, 2.0, n))) for mean in (100.0, 60.0, 80.0)]


@pytest.mark.parametrize("n", [3, 5])
def test_intervals_cover_the_truth_95_percent_of_the_time(n):
    welch = paired = fieller = fieller_paired = 0
    for base, truth, cand in simulate(n):
        d = difference(base, truth, rounds=n)
        welch += d.unpaired[0] <= 40 <= d.unpaired[1]
        paired += d.paired[0] <= 40 <= d.paired[1]
        lo, hi = fsr_interval(base, truth, cand, paired=False)
        fieller += lo <= 0.5 <= hi
        lo, hi = fsr_interval(base, truth, cand, paired=True)
        fieller_paired += lo <= 0.5 <= hi
    for name, covered in {
        "Welch": welch,
        "paired": paired,
        "Fieller": fieller,
        "paired Fieller": fieller_paired,
    }.items():
        assert 0.93 <= covered / 2000 <= 0.97, f"{name} covers {covered / 2000:.3f} at n={n}"


@pytest.mark.parametrize("n", [3, 5])
def test_paired_interval_stays_honest_when_rounds_share_the_machine(n):
    covered, width_ratios = 0, []
    for base, truth, _ in simulate(n, shared_sd=4.0, seed=1):
        d = difference(base, truth, rounds=n)
        covered += d.paired[0] <= 40 <= d.paired[1]
        width_ratios.append((d.paired[1] - d.paired[0]) / (d.unpaired[1] - d.unpaired[0]))
    assert 0.93 <= covered / 2000 <= 0.97
    assert np.median(width_ratios) < 0.8  # and it is the narrower one
