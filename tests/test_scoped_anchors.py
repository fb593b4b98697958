"""Scoped anchors (``GPT.forward@tanh``) split two techniques that share one method: the scoped
innovation claims only the statements inside its scope that mention the identifier, so a
candidate that does just that technique reproduces it and not its neighbour; a scoped anchor whose
scope or identifier the record's code lacks is rejected when the record is added. An anchor with
nothing after the ``@`` (``backward@``) claims only the statements inside its scope, never one that
merely mentions the name (a training loop's ``loss.backward()``)."""

import pytest

from analysis.attribute import Innovation, attribute
from analysis.diff import load
from analysis.syntax import Cache
from replay.errors import SpeedrunError
from replay.records.add import add_record, init_records_repo

from toyrecords import write_toy_record

BASE = """
class GPT:
    def forward(self, x):
        x = self.blocks(x)
        x = self.norm(x)
        logits = self.head(x)
        logits = 30 * torch.tanh(logits / 30)
        return logits.float()
"""
# Record i+1: a lower softcap and, in the same method, a refactor of the trunk.
TARGET = BASE.replace("30 * torch.tanh(logits / 30)", "15 * torch.tanh(logits / 15)").replace(
    "x = self.blocks(x)\n        x = self.norm(x)",
    "for block in self.layers:\n            x = block(x)\n        x = norm(x)",
)
SOFTCAP_ONLY = BASE.replace("30 * torch.tanh(logits / 30)", "15 * torch.tanh(logits / 15)")


def verdicts(candidate: str, innovations: list[Innovation]) -> dict[str, float]:
    cache = Cache()
    result = attribute(
        load(BASE, "base", cache), load(TARGET, "target", cache), load(candidate, "cand", cache), innovations
    )
    return {g.name: g.score for g in result.innovations}


def test_scoped_anchor_separates_techniques_in_one_method():
    scoped = [Innovation("softcap 15", ("GPT.forward@tanh",)), Innovation("refactor", ("GPT.forward",))]
    assert verdicts(SOFTCAP_ONLY, scoped) == {"softcap 15": 1.0, "refactor": 0.0}
    assert verdicts(TARGET, scoped) == {"softcap 15": 1.0, "refactor": 1.0}
    # Without the scope the anchor also encloses the refactor; the idea-level comparison still credits
    # the one-line technique (issue 18, class 1), though less surely than the scoped anchor does.
    plain = [Innovation("softcap 15", ("GPT.forward",))]
    assert 0.5 <= verdicts(SOFTCAP_ONLY, plain)["softcap 15"] < 1.0


CUSTOM_OP_BASE = """
model = build()
loss = model(batch)
loss.backward()
"""
# Record i+1: a custom op with a backward function, and the training loop scales its loss.
CUSTOM_OP = """
def backward(ctx, grad):
    return grad * 2

"""
CUSTOM_OP_TARGET = CUSTOM_OP + CUSTOM_OP_BASE.replace("loss.backward()", "(loss * 0.5).backward()")


def test_an_anchor_with_an_empty_scope_claims_only_what_it_encloses():
    def scores(op_anchor):
        cache = Cache()
        res = attribute(
            load(CUSTOM_OP_BASE, "base", cache),
            load(CUSTOM_OP_TARGET, "target", cache),
            load(CUSTOM_OP + CUSTOM_OP_BASE, "cand", cache),  # the op alone
            [Innovation("custom op", (op_anchor,)), Innovation("loss scale", ("loss",))],
        )
        return {g.name: g.score for g in res.innovations}

    inside, plain = scores("backward@"), scores("backward")
    assert inside["custom op"] == 1.0 and inside["loss scale"] < 0.5
    # a plain anchor also claims the loop's (loss * 0.5).backward(), which the op alone does not do
    assert plain["custom op"] < 1.0


@pytest.mark.parametrize(
    "anchor, message",
    [
        ("Hyperparameters.step_ms@nowhere", "names 'nowhere', which the record's code never mentions"),
        ("Nothing@sleep", "is not defined in the record's code"),
    ],
)
def test_bad_scoped_anchors_are_rejected(home, anchor, message):
    store = init_records_repo(home / "records.git")
    folder = write_toy_record(home / "r1")
    toml = (folder / "record.toml").read_text().replace('"Hyperparameters.step_ms"', f'"{anchor}"')
    (folder / "record.toml").write_text(toml)
    with pytest.raises(SpeedrunError, match=message):
        add_record(store, "toy", folder)
    folder = write_toy_record(home / "r1ok")
    toml = (folder / "record.toml").read_text().replace('"Hyperparameters.step_ms"', '"Hyperparameters@step_ms"')
    (folder / "record.toml").write_text(toml)
    add_record(store, "toy", folder)
