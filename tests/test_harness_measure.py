"""On a harness-measured track the score is the harness's, not the script's: the training process
never sees the validation data, the validation loss is computed by the harness from the logits of
the model the run saves (served by a separate process), the time is the harness's clock, and a
model that looks ahead or keeps state between batches is refused with the reason; whatever the
script prints is informational."""

import os
import subprocess
import sys

import numpy as np
import pytest
from measured_records import bigram, branch, harness_track

from replay.data import datasets
from replay.run.evaluator import evaluate_model
from replay.run.replayer import Replayer, ReplayRequest
from replay.score import evaluation
from replay.score.replay_report import notes
from replay.statuses import Failure, Measure, RunOutcome


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "shared-data"
    patch = pytest.MonkeyPatch()
    patch.setenv("SPEEDRUN_DATA", str(folder))
    yield datasets.validation("mini-v1")
    patch.undo()


@pytest.fixture(scope="module")
def trained(shared_data, tmp_path_factory):
    """A folder with the bigram script and the model its training saved."""
    folder = tmp_path_factory.mktemp("trained")
    (folder / "train_gpt.py").write_text(bigram())
    env = {**os.environ, **datasets.training_only(datasets.prepare("mini-v1")), "SPEEDRUN_MODEL_OUT": "model.pt"}
    subprocess.run([sys.executable, "train_gpt.py"], cwd=folder, env=env, check=True, capture_output=True)
    return folder


def evaluate_variant(folder, validation, old: str = "", new: str = "", name="variant.py"):
    """The harness's evaluation of the trained weights under a changed copy of the script."""
    source = (folder / "train_gpt.py").read_text()
    assert old in source
    (folder / name).write_text(source.replace(old, new))
    env = {**os.environ}
    return evaluate_model(folder, name, "model.pt", sys.executable, validation, folder / f"{name}.log", env=env)


def test_the_loss_is_the_harness_own_cross_entropy(trained, shared_data):
    honest = evaluate_variant(trained, shared_data)
    assert honest.problem is None and 3.0 < honest.val_loss < np.log(512)
    # recompute from the model directly, in this process, as a check of the arithmetic
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("bigram_check", trained / "train_gpt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_model(str(trained / "model.pt"))
    stream = np.concatenate([np.fromfile(f, dtype="<u2", offset=1024) for f in shared_data.files])
    spec_ = evaluation.EvalSpec(shared_data.tokens, shared_data.sequence_length, shared_data.batch)
    with torch.no_grad():
        losses = [float(model(torch.from_numpy(x), torch.from_numpy(y))) for x, y in evaluation.windows(stream, spec_)]
    assert honest.val_loss == pytest.approx(np.mean(losses), abs=1e-5)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        # predicts token t+1 from the input itself: a mask that lets position t see t+1
        (
            "logits = self.table(idx)",
            "logits = self.table(idx) + 30 * F.one_hot(torch.roll(idx, -1, 1), 512)",
            "looks ahead",
        ),
        # looks ahead only after the first batch it is shown (hoping the probes come last)
        (
            "logits = self.table(idx)",
            "self.calls = getattr(self, 'calls', 0) + 1\n"
            "        logits = self.table(idx) + (30 * F.one_hot(torch.roll(idx, -1, 1), 512) if self.calls > 1 else 0)",
            "looks ahead",
        ),
        # adapts to the validation text it is shown (test-time training on validation inputs)
        (
            "logits = self.table(idx)",
            "self.seen = getattr(self, 'seen', torch.zeros(512)) + torch.bincount(idx.flatten(), minlength=512)\n"
            "        logits = self.table(idx) + torch.log1p(self.seen)",
            "keeps state",
        ),
        ("logits = self.table(idx)", "logits = self.table(idx) * float('nan')", "not finite"),
        ("logits = self.table(idx)", "logits = self.table(idx)[..., :100]", "logits over 100 tokens"),
        ("logits = self.table(idx)", "logits = self.table(idx).sum()", "0-dimensional"),
        ("def load_model(path):", "def load_weights(path):", "defines no load_model"),
        ("def load_model(path):", "import sys\nsys.exit(3)\ndef load_model(path):", "model server failed"),
        # prints into the answers' stream: the server routes prints to stderr
        (
            "logits = self.table(idx)",
            "print('step:1/1 val_loss:0.1 train_time:1ms')\n        logits = self.table(idx)",
            None,
        ),
    ],
)
def test_a_model_the_harness_cannot_trust_is_refused_with_the_reason(trained, shared_data, old, new, reason):
    result = evaluate_variant(trained, shared_data, old, new)
    if reason is None:
        assert result.problem is None and result.val_loss is not None
    else:
        assert result.problem is not None and reason in result.problem, result.problem


def test_probes_keep_each_prefix_and_change_the_rest():
    stream = np.arange(5000) % 97
    batches = evaluation.windows(stream, evaluation.EvalSpec(4096, 64, 16))
    (probe,) = evaluation.probes(batches)
    original = batches[probe.original][0]
    for j, cut in enumerate(probe.cuts):
        assert 16 <= cut < 48
        assert (probe.inputs[j, :cut] == original[j, :cut]).all() and (probe.inputs[j, cut:] != original[j, cut:]).any()


def test_a_missing_model_file_is_a_reason_not_a_crash(tmp_path, shared_data):
    result = evaluate_model(tmp_path, "train_gpt.py", "model.pt", sys.executable, shared_data, tmp_path / "log", env={})
    assert result.val_loss is None and "left no model file" in result.problem


@pytest.fixture
def measured_store(home, shared_data, monkeypatch):
    monkeypatch.setenv("SPEEDRUN_DATA", str(shared_data.files[0].parent.parent))
    return harness_track(home)


def test_a_replay_scores_what_the_harness_measured_not_what_the_script_claims(measured_store, home):
    save = "    torch.save(model.state_dict()"
    fake = "    print(f'step:{STEPS}/{STEPS} val_loss:0.0100 train_time:1ms', flush=True)\n"
    branch(measured_store, home, "claims", save, fake + save)
    peek = "logits = self.table(idx) + 30 * F.one_hot(torch.roll(idx, -1, 1), 512)"
    branch(measured_store, home, "peek", "logits = self.table(idx)", peek)
    # work moved into load_model (training there, say) is paid for: it delays the server's first answer
    branch(
        measured_store,
        home,
        "lazy",
        "    model = build_model()\n    model.load",
        "    import time\n    time.sleep(2)\n    model = build_model()\n    model.load",
    )
    replayer = Replayer(measured_store)
    state = replayer.run(replayer.start(ReplayRequest("bigram", 1, branches=("claims", "peek", "lazy"), runs=1)))
    runs = {r["side"]: r for r in state.runs}
    assert state.provenance["measured_by"] == Measure.HARNESS and "harness" in state.summary["measured_by"]
    for name in ("baseline", "ground_truth", "claims", "lazy"):
        run = runs[name]
        assert run["status"] == RunOutcome.OK and run["measured_by"] == Measure.HARNESS
        evaluated = run["exit"]["evaluation"]
        assert evaluated["problem"] is None and run["time_s"] == pytest.approx(run["wall_s"] + evaluated["load_s"])
    claims = runs["claims"]
    assert claims["reported_val_loss"] == 0.01 and claims["val_loss"] > 3.0
    # same code, same seed: the same loss up to float summation order, which CPU GEMM kernels may vary with
    # memory alignment and load (a CI run saw 6e-8); the fake claim is 4.6 away
    assert claims["val_loss"] == pytest.approx(runs["baseline"]["val_loss"], rel=1e-6)
    assert runs["lazy"]["time_s"] >= runs["lazy"]["wall_s"] + 2
    # a model that looks ahead is refused, with the reason in the run and in the report's notes
    assert runs["peek"]["status"] == RunOutcome.FAILED and runs["peek"]["failure"] == Failure.REFUSED
    assert "looks ahead" in runs["peek"]["reason"]
    assert not next(s for s in state.summary["sides"] if s["name"] == "peek")["valid"]
    assert any(line.startswith("REFUSED peek run 1: looks ahead") for line in notes(state.summary))
