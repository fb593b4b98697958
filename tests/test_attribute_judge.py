"""`speedrun attribute --judge MODEL` puts the paper's question to a model and shows its verdicts
beside attribution's, never in the score: the model gets record i+1's innovations and both changes
against record i (the record's and the candidate's), and nothing else of the machine; its JSON
answer is read per innovation, with agreement counted against ours; a malformed or partial
answer leaves verdicts empty and says so; Markdown, HTML and JSON reports carry it; a model whose
key is missing fails as one line before any work. Offline, with scripted models."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.idea_judge import MAX_DIFF_CHARS, judge_messages, parse_verdicts
from replay import paths
from replay.cli.app import app
from replay.records.schema import Innovation
from replay.records.store import RecordsStore

PROMPTS: list[list[dict]] = []


def says_first_only(messages):
    """A judge that credits the first listed innovation and no other."""
    PROMPTS.append(messages)
    names = json.loads(re.search(r"each of these names: (\[.*\])\.", messages[-1]["content"]).group(1))
    verdicts = [
        {"innovation": n, "reproduced": i == 0, "reason": f"looked at {n} | closely"} for i, n in enumerate(names)
    ]
    return "Here is my answer:\n```json\n" + json.dumps({"verdicts": verdicts}) + "\n```"


def rambles(messages):
    return "I think the candidate is quite good overall."


@pytest.fixture
def mini(monkeypatch, tmp_path):
    monkeypatch.setenv("SPEEDRUN_RECORDS", str(paths.PROJECT_ROOT / "records.git"))
    monkeypatch.setenv("SPEEDRUN_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("SPEEDRUN_PROBES", "0")  # the judge is the subject here, not the probes
    PROMPTS.clear()
    return RecordsStore(paths.PROJECT_ROOT / "records.git")


def attribute(*extra: str):
    return CliRunner().invoke(app, ["attribute", "4", "--track", "mini", "--commit", "mini/r05", *extra])


def test_the_judge_is_shown_beside_the_score_and_never_changes_it(mini):
    plain = attribute("--format", "json")
    judged = attribute("--format", "json", "--judge", "scripted/test_attribute_judge:says_first_only")
    assert plain.exit_code == 0 and judged.exit_code == 0, judged.output
    without, doc = json.loads(plain.output), json.loads(judged.output)
    assert doc["innovations"] == without["innovations"] and doc["summary"] == without["summary"]
    names = [g["name"] for g in doc["innovations"]]
    judge = doc["judge"]
    assert judge["model"] == "scripted/test_attribute_judge:says_first_only"
    assert [v["innovation"] for v in judge["verdicts"]] == names
    assert [v["reproduced"] for v in judge["verdicts"]] == [i == 0 for i in range(len(names))]
    assert all(v["ours"] for v in judge["verdicts"])  # the gold candidate: attribution credits everything
    assert (judge["agree"], judge["of"], judge["problem"]) == (1, len(names), None)
    assert judge["call"]["prompt_tokens"] > 0 and judge["call"]["attempts"] == 1


def test_the_prompt_holds_the_innovations_and_both_changes_and_nothing_else(mini, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-sent")
    assert attribute("--judge", "scripted/test_attribute_judge:says_first_only").exit_code == 0
    system, user = PROMPTS[-1]
    text = user["content"]
    target = mini.task("mini", 4).target
    for innovation in target.meta.innovations:
        assert f"- {innovation.name}: {innovation.description}" in text
    assert text.count("```diff") == 2 and "+++ b/train_gpt.py" in text
    assert "relu" in text.lower()  # the change itself is in the diffs
    assert "sk-secret" not in text + system["content"] and str(paths.PROJECT_ROOT) not in text


def test_markdown_and_html_show_the_second_opinion(mini, tmp_path):
    md = attribute("--judge", "scripted/test_attribute_judge:says_first_only")
    assert md.exit_code == 0
    assert "## Second opinion: scripted/test_attribute_judge:says_first_only (not in the score)" in md.output
    assert "Agrees with attribution on 1 of" in md.output and "looked at" in md.output
    assert "\\|" in md.output  # a pipe in the model's reason does not break the table
    page = tmp_path / "report.html"
    html = attribute("--format", "html", "-o", str(page), "--judge", "scripted/test_attribute_judge:says_first_only")
    assert html.exit_code == 0
    text = page.read_text()
    assert '<div id="judge">' in text and "not in the score" in text and "looked at" in text


def test_an_answer_that_is_not_the_json_asked_for_leaves_verdicts_empty(mini):
    result = attribute("--format", "json", "--judge", "scripted/test_attribute_judge:rambles")
    assert result.exit_code == 0
    judge = json.loads(result.output)["judge"]
    assert judge["problem"] == "its answer was not the JSON object asked for"
    assert all(v["reproduced"] is None for v in judge["verdicts"]) and judge["agree"] == 0


def test_a_partial_or_malformed_answer_is_read_as_far_as_it_goes():
    names = ["ReLU squared", "QK-norm"]
    found, problem = parse_verdicts(
        '{"verdicts": [{"innovation": "ReLU squared", "reproduced": true}, '
        '{"innovation": "QK-norm", "reproduced": "maybe"}, {"innovation": "invented", "reproduced": true}]}',
        names,
    )
    assert found == {"ReLU squared": {"reproduced": True, "reason": ""}} and problem == "no verdict for QK-norm"
    assert parse_verdicts("{not json}", names) == ({}, "its answer was not the JSON object asked for")
    assert parse_verdicts('{"verdicts": 3}', names)[1] == "its answer was not the JSON object asked for"


def test_long_diffs_are_cut_and_the_prompt_says_so():
    base = "x = 1\n"
    long = base + "".join(f"y{i} = {i}\n" for i in range(20_000))
    messages = judge_messages((Innovation("big", ("main",), "a big change"),), base, long, base, "train_gpt.py")
    text = messages[-1]["content"]
    assert f"[diff cut at {MAX_DIFF_CHARS} characters]" in text and "(no change)" in text
    assert len(text) < 2 * MAX_DIFF_CHARS + 5_000


def test_a_model_without_its_key_fails_as_one_line_before_any_work(mini):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    speedrun = str(Path(sys.executable).parent / "speedrun")
    args = [speedrun, "attribute", "4", "--track", "mini", "--commit", "mini/r05", "--judge", "openai/gpt-4o"]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == ["error: model openai/gpt-4o needs OPENAI_API_KEY in the environment"]
