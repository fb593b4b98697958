"""The log parser reads every step-line variant of the speedrun deterministically.

Guards: validation vs training lines, with and without step_avg / train_loss, `nan` values,
source code and banners before the step lines, truncated logs, both peak-memory tails, and
"final" meaning the last validation line with S == N.
"""

import math

from replay.score.log_parser import LogParser, parse_log, parse_step_line

SOURCE_PREAMBLE = """import os
print0(f"step:{step}/{train_steps} val_loss:{val_loss:.4f} train_time:{training_time_ms:.0f}ms")
====================================================================================================
Running Python 3.12.7 | PyTorch 2.6.0
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15                 |
====================================================================================================
"""


def test_validation_line_with_step_avg():
    line = parse_step_line("step:1750/1750 val_loss:3.2739 train_time:289801ms step_avg:166.50ms")
    assert line.is_validation and line.step == 1750 and line.total == 1750
    assert line.val_loss == 3.2739 and line.train_time_ms == 289801 and line.step_avg_ms == 166.5


def test_validation_line_without_step_avg_records_1_to_3():
    line = parse_step_line("step:7000/7000 val_loss:3.2813 train_time:1386100ms")
    assert line.val_loss == 3.2813 and line.step_avg_ms is None


def test_training_line_with_and_without_train_loss():
    with_loss = parse_step_line("step:12/1390 train_loss:6.1234 train_time:1880ms step_avg:156.67ms")
    without = parse_step_line("step:12/1390 train_time:1880ms step_avg:156.67ms")
    assert not with_loss.is_validation and with_loss.train_loss == 6.1234
    assert not without.is_validation and without.train_loss is None and without.train_time_ms == 1880


def test_nan_values_at_step_zero():
    line = parse_step_line("step:0/1393 val_loss:nan train_time:0ms step_avg:nanms")
    assert math.isnan(line.val_loss) and math.isnan(line.step_avg_ms)


def test_non_step_lines_are_ignored():
    for text in [
        "",
        "hello",
        "  step:1/2 val_loss:3 train_time:1ms",
        "step:1/2",
        "stepper:1/2 train_time:3ms",
        'print0(f"step:{step}/{N} val_loss:{x:.4f} train_time:{t:.0f}ms")',
    ]:
        assert parse_step_line(text) is None


def test_whole_log_with_source_preamble_and_tail():
    log = (
        SOURCE_PREAMBLE
        + "\n".join(
            [
                "step:0/3 val_loss:10.8258 train_time:0ms step_avg:nanms",
                "step:1/3 train_time:100ms step_avg:100.00ms",
                "step:2/3 train_time:200ms step_avg:100.00ms",
                "step:3/3 train_time:300ms step_avg:100.00ms",
                "step:3/3 val_loss:3.2800 train_time:300ms step_avg:100.00ms",
                "peak memory allocated: 22521 MiB reserved: 27100 MiB",
            ]
        )
        + "\n"
    )
    parsed = parse_log(log)
    assert len(parsed.validation) == 2 and len(parsed.training) == 3
    assert parsed.final.val_loss == 3.28 and parsed.final.train_time_ms == 300
    assert parsed.complete and parsed.total_steps == 3
    assert parsed.peak_memory_mib == 22521


def test_old_peak_memory_tail():
    assert parse_log("peak memory consumption: 31045 MiB\n").peak_memory_mib == 31045


def test_truncated_log_has_no_final_and_ignores_cut_line():
    log = (
        "step:0/100 val_loss:nan train_time:0ms step_avg:nanms\n"
        "step:1/100 train_time:50ms step_avg:50.00ms\n"
        "step:2/100 val_lo"
    )
    parsed = parse_log(log)
    assert parsed.final is None and not parsed.complete
    assert parsed.last.step == 1 and parsed.last.train_time_ms == 50


def test_cut_inside_train_time_is_not_a_step():
    assert parse_step_line("step:5/10 val_loss:3.1000 train_time:12") is None


def test_final_is_last_validation_at_total_not_last_line():
    log = (
        "step:10/10 val_loss:3.3000 train_time:1000ms\n"
        "step:10/10 val_loss:3.2500 train_time:1000ms\n"
        "step:10/10 train_time:1000ms step_avg:100ms\n"
    )
    assert parse_log(log).final.val_loss == 3.25


def test_incremental_parser_matches_whole_parse():
    log = (
        "step:0/2 val_loss:nan train_time:0ms\n"
        "step:1/2 train_loss:4.0 train_time:10ms step_avg:10ms\n"
        "step:2/2 val_loss:3.0 train_time:20ms\n"
    )
    parser = LogParser()
    fed = [parser.feed(line) for line in log.splitlines()]
    assert [f.step for f in fed] == [0, 1, 2]
    assert parser.parsed.final == parse_log(log).final


def test_only_what_the_speedrun_prints_is_a_step_line():
    """The code under test prints these lines: every other spelling of a number or a field is
    not a step line, and no line (however long its numbers) makes the parser fail."""
    good = "step:10/10 val_loss:3.2500 train_time:1000ms step_avg:100.00ms"
    assert parse_step_line(good).val_loss == 3.25
    for bad in [
        "step:１0/10 val_loss:3.2500 train_time:1000ms",  # full-width digit
        "step:10/10 val_loss:３.25 train_time:1000ms",
        "step:10/10 val_loss:3.25 train_time:1_000ms",  # underscore
        "step:10/10 val_loss:3.25 train_time:1e3ms",  # exponent
        "step:10/10 val_loss:-3.25 train_time:1000ms",  # negative
        "step:10/10 val_loss:inf train_time:1000ms",
        "step:10/10 val_loss:3.25 train_time:-5ms",
        "step:10/10 val_loss:3.25 train_time:nanms",  # no time, no step line
        "step:10/10 val_loss:3.25 train_time:1000ms val_loss:2.0",  # a field twice
        "step:10/10 val_loss:3.25 train_time:1000ms train_time:1ms",
        "step:0/0 val_loss:3.25 train_time:0ms",  # N >= 1
        "step:11/10 val_loss:3.25 train_time:1000ms",  # S <= N
        "step:" + "9" * 5000 + "/" + "9" * 5000 + " val_loss:3.25 train_time:1000ms",
        "step:10/10 val_loss:3." + "2" * 5000 + " train_time:1000ms",
        "step:10/10\u00a0val_loss:3.25\u00a0train_time:1000ms",  # a non-ASCII space
        "step:10/10 val_loss:3.25 train_time:1000",  # no unit
    ]:
        assert parse_step_line(bad) is None, bad
    log = "\n".join(["step:" + "9" * 5000 + "/1 val_loss:1.0 train_time:1ms", good])
    assert parse_log(log).final.val_loss == 3.25
