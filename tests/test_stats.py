"""Statistics are right on known numbers: Student's t, the validity rule, FSR and its bootstrap CI."""

import math

import pytest

from replay.score.stats import difference_interval, fsr, fsr_interval, mean_sd, p_below, student_t_cdf, validity


@pytest.mark.parametrize(
    "t, df, upper_tail", [(2.015, 5, 0.05), (6.965, 2, 0.01), (2.764, 10, 0.01), (1.645, 1e6, 0.05)]
)
def test_student_t_matches_tables(t, df, upper_tail):
    assert 1 - student_t_cdf(t, df) == pytest.approx(upper_tail, rel=2e-3)


def test_student_t_is_symmetric():
    assert student_t_cdf(-1.3, 7) == pytest.approx(1 - student_t_cdf(1.3, 7))
    assert student_t_cdf(0.0, 3) == pytest.approx(0.5)


def test_mean_sd():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_sd([5.0]) == (5.0, None)


def test_validity_single_run_uses_mean_only():
    assert validity([3.279], 3.28).valid and not validity([3.281], 3.28).valid


def test_validity_needs_significance_with_several_runs():
    # mean 3.2795 is below 3.28, but far from significantly so: the speedrun's rule says invalid.
    assert not validity([3.277, 3.282], 3.28).valid
    clearly = validity([3.270, 3.271, 3.272], 3.28)
    assert clearly.valid and clearly.p_value < 0.01
    # t = (3.271 - 3.28) / (0.001 / sqrt 3) = -15.59, df 2
    assert clearly.p_value == pytest.approx(student_t_cdf(-9 * math.sqrt(3), 2))


def test_p_below_zero_variance():
    assert p_below([3.0, 3.0], 3.28) == 0.0
    assert p_below([3.3, 3.3], 3.28) == 1.0


def test_fsr_definition():
    assert fsr(100.0, 60.0, 80.0) == pytest.approx(0.5)
    assert fsr(100.0, 60.0, 60.0) == pytest.approx(1.0)
    assert fsr(100.0, 60.0, 110.0) == pytest.approx(-0.25)
    assert fsr(100.0, 100.0, 90.0) is None


def test_fsr_interval_brackets_point_estimate_and_is_reproducible():
    base, truth, cand = [100.0, 101.0, 99.0], [60.0, 61.0, 59.0], [80.0, 81.0, 79.0]
    lo, hi = fsr_interval(base, truth, cand)
    assert lo < 0.5 < hi and hi - lo < 0.2
    assert fsr_interval(base, truth, cand) == (lo, hi)
    assert fsr_interval([100.0], truth, cand) is None


def test_difference_interval_detects_noise():
    lo, hi = difference_interval([10.0, 10.5, 9.5], [9.9, 10.4, 9.6])
    assert lo <= 0 <= hi
    lo, hi = difference_interval([10.0, 10.1, 9.9], [5.0, 5.1, 4.9])
    assert lo > 4
