"""The warnings under a replay table say what the speedup's CI means and which interval decided:
a ground truth within noise of its baseline, one slower beyond noise, and one run a side (no
interval) are told apart."""

from replay.score.replay_report import notes


def summary(ci):
    speedup = {"ci": ci, "method": "paired", "within_noise": None if ci is None else ci[0] <= 0}
    return {"partial": False, "speedup": speedup, "sides": []}


def test_significant_speedup_has_no_warning():
    assert notes(summary((1.5, 4.0))) == []


def test_speedup_within_noise():
    (line,) = notes(summary((-1.0, 3.0)))
    assert "speedup is within noise" in line and "paired CI" in line and "[-1.00, 3.00]" in line
    assert "FSR is meaningless" in line


def test_ground_truth_slower_beyond_noise():
    (line,) = notes(summary((-7.1, -0.9)))
    assert "ground truth is slower than the baseline beyond noise" in line and "[-7.10, -0.90]" in line


def test_one_run_a_side_has_no_interval():
    (line,) = notes(summary(None))
    assert "One run per side" in line
