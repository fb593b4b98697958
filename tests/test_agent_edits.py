"""Edits from model replies apply exactly where they should — search/replace blocks (tolerant of
trailing whitespace and a shifted indentation), unified diffs (located by content, with wrong
line numbers and counts), whole files — and an edit that cannot apply is an EditError whose
message tells the model what to fix."""

import pytest

from agent.edits import EditError, EditFormat, apply_reply

SCRIPT = """class Hyperparameters:
    lr = 0.1
    steps = 100


def train(args):
    for step in range(args.steps):
        loss = step * args.lr
    return loss
"""


def block(search, replace):
    return f"Change it.\n\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_search_replace_exact_and_several_blocks():
    reply = block("    lr = 0.1", "    lr = 0.2") + block("    steps = 100", "    steps = 50")
    applied = apply_reply(SCRIPT, reply)
    assert applied.format == EditFormat.SEARCH_REPLACE and applied.blocks == 2
    assert "lr = 0.2" in applied.text and "steps = 50" in applied.text and "lr = 0.1" not in applied.text


def test_search_replace_tolerates_trailing_spaces_and_shifted_indentation():
    # the model quoted the loop body without its indentation and with trailing blanks
    reply = block("loss = step * args.lr   \nreturn loss", "loss = step * args.lr * 2\nreturn loss")
    with pytest.raises(EditError):  # "return loss" is not at the same relative indentation: refuse to guess
        apply_reply(SCRIPT, reply)
    reply = block(
        "for step in range(args.steps):\n    loss = step * args.lr  ",
        "for step in range(args.steps // 2):\n    loss = step * args.lr",
    )
    text = apply_reply(SCRIPT, reply).text
    assert "    for step in range(args.steps // 2):\n        loss = step * args.lr\n    return loss" in text


def test_search_replace_errors_name_the_block_and_show_closest_lines():
    with pytest.raises(EditError, match=r"block 2: the lines were not found.*closest lines are 2-2:\n    lr = 0.1"):
        apply_reply(SCRIPT, block("    steps = 100", "    steps = 90") + block("    lr = 0.15", "    lr = 0.3"))
    twice = SCRIPT + "\nclass Other:\n    lr = 0.1\n"
    with pytest.raises(EditError, match="occurs 2 times"):
        apply_reply(twice, block("    lr = 0.1", "    lr = 0.3"))


def test_unified_diff_with_wrong_line_numbers_and_counts():
    diff = (
        "```diff\n--- a/train_gpt.py\n+++ b/train_gpt.py\n@@ -40,9 +40,9 @@\n class Hyperparameters:\n"
        "-    lr = 0.1\n+    lr = 0.05\n     steps = 100\n```\n"
    )
    applied = apply_reply(SCRIPT, "Lower the rate.\n" + diff)
    assert applied.format == EditFormat.UNIFIED_DIFF
    assert applied.text == SCRIPT.replace("lr = 0.1", "lr = 0.05")


def test_unified_diff_that_does_not_match_is_an_error():
    diff = "```diff\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n-    momentum = 0.9\n+    momentum = 0.95\n```\n"
    with pytest.raises(EditError, match="hunk 1"):
        apply_reply(SCRIPT, diff)


def test_whole_file_fallback_and_no_edit():
    new = SCRIPT.replace("steps = 100", "steps = 80")
    applied = apply_reply(SCRIPT, f"Here is the script.\n\n```python\n{new}```\n")
    assert applied.format == EditFormat.WHOLE_FILE and applied.text == new
    with pytest.raises(EditError, match="no edit found"):
        apply_reply(SCRIPT, "I would lower the learning rate.")
    with pytest.raises(EditError, match="no edit found"):  # a snippet is not a whole file
        apply_reply(SCRIPT, "```python\nlr = 0.2\n```")
