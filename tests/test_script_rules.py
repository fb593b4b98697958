"""Where a script reports its own score, a candidate must measure exactly as its record does:
every statement of the record that touches the timer, the validation data and its size, the
step lines or the seed — at any depth, ``main()`` included — and the code that runs while the
clock is stopped or trains before it starts, stays unchanged, nothing new touches them, and
nothing reaches them indirectly (``globals()``, ``sys.modules``, ``importlib``, ``exec``,
patched modules, rebound builtins, harness environment variables).

Each cheat below is flagged with its reason in the line; each honest edit (architecture,
optimiser, hyperparameters, refactors, formatting and comments beside the timer) is not. They
run on the self-measured mini record 21 (the fixture: the mini track before the harness took
over validation and timing), on the mini track's records in ``records.git``, and, with
``SPEEDRUN_NANOGPT_CHECKOUT``, on real speedrun records.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest

from replay import paths
from replay.records.script_rules import (
    protected_violations,
    summary,
    syntax_error,
    whole_record_violations,
    whole_script_violations,
)

FIXTURE = Path(__file__).parent / "fixtures" / "script_rules" / "mini_r21_self_measured.py"
SELF_MEASURED = FIXTURE.read_text()
IMPORTS_END = "import torch.nn.functional as F\n"


def replace(*pairs: tuple[str, str]) -> Callable[[str], str | None]:
    """An edit replacing the first occurrence of each ``old`` (None: an ``old`` is missing)."""

    def edit(text: str) -> str | None:
        for old, new in pairs:
            if old not in text:
                return None
            text = text.replace(old, new, 1)
        return text

    return edit


def validating(edit: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """An edit that is a cheat only where the script validates itself (a record the harness
    measures has no validation code to protect: its loader is the candidate's to change)."""
    return lambda text: edit(text) if "val_loader" in text else None


def either(*edits: Callable[[str], str | None]) -> Callable[[str], str | None]:
    def edit(text: str) -> str | None:
        return next((out for e in edits if (out := e(text)) is not None), None)

    return edit


def at_module(code: str) -> Callable[[str], str | None]:
    """Module-level code right after the imports."""
    return replace((IMPORTS_END, IMPORTS_END + "\n" + code + "\n"))


def before(anchor: str, code: str) -> Callable[[str], str | None]:
    return replace((anchor, code + anchor))


def after(anchor: str, code: str) -> Callable[[str], str | None]:
    return replace((anchor, anchor + code))


@dataclass(frozen=True)
class Variant:
    name: str
    reason: str  # a cheat: the category a violation line must name; honest: ""
    edit: Callable[[str], str | None]


FAST_CLOCK = "class _Fast(TrainingClock):\n    def peek(self):\n        return 0.0\n\n\n"
PRETRAIN = (
    "    for _ in range(10):\n"
    "        x, y = train_loader.next_batch()\n"
    "        model(x, y).backward()\n"
    "        for opt in optimizers:\n"
    "            opt.step()\n"
    "        model.zero_grad(set_to_none=True)\n"
)

CHEATS = [
    # the timer: paused, scaled, patched, aliased, subclassed, restarted
    Variant(
        "clock paused around the optimiser step",
        "timer",
        replace(
            (
                "        for opt in optimizers:\n",
                "        _paused = time.perf_counter()\n        for opt in optimizers:\n",
            ),
            (
                "        model.zero_grad(set_to_none=True)\n",
                "        model.zero_grad(set_to_none=True)\n        clock.t0 += time.perf_counter() - _paused\n",
            ),
        ),
    ),
    Variant(
        "clock scaled by half",
        "timer",
        either(
            replace(("return self.elapsed_ms + 1000 * (", "return self.elapsed_ms + 500 * (")),
            replace(("return 1000 * (time.perf_counter() - self.t0)", "return 500 * (time.perf_counter() - self.t0)")),
        ),
    ),
    Variant("time.perf_counter patched", "indirect access", at_module("time.perf_counter = lambda: 0.0")),
    Variant(
        "time patched through an import alias",
        "indirect access",
        at_module("import time as _clock\n_clock.perf_counter = time.process_time"),
    ),
    Variant(
        "perf_counter imported under another name",
        "timer",
        replace(
            (IMPORTS_END, IMPORTS_END + "from time import perf_counter as _pc\n"),
            (
                "        print_train_line(step + 1",
                "        clock.t0 = max(clock.t0, _pc() - 0.01)\n        print_train_line(step + 1",
            ),
        ),
    ),
    Variant(
        "time module aliased by assignment, then patched",
        "timer",
        at_module("_clock_module = time\n_clock_module.perf_counter = lambda: 0.0"),
    ),
    Variant(
        "clock subclass swapped in through globals()",
        "indirect access",
        before("\ndef main():\n", FAST_CLOCK + 'globals()["TrainingClock"] = _Fast\n\n'),
    ),
    Variant(
        "clock subclass rebound by name", "timer", before("\ndef main():\n", FAST_CLOCK + "TrainingClock = _Fast\n\n")
    ),
    Variant(
        "clock object's class swapped",
        "indirect access",
        after(
            "    clock = TrainingClock()\n",
            '    clock.__class__ = type("_Fast", (TrainingClock,), {"peek": lambda self: 0.0})\n',
        ),
    ),
    Variant("setattr on the time module", "indirect access", at_module('setattr(time, "perf_counter", lambda: 0.0)')),
    Variant(
        "time patched through sys.modules",
        "indirect access",
        at_module('import sys\nsys.modules["time"].perf_counter = lambda: 0.0'),
    ),
    Variant(
        "time patched through importlib",
        "indirect access",
        at_module('import importlib\nimportlib.import_module("time").perf_counter = lambda: 0.0'),
    ),
    Variant(
        "time patched inside exec",
        "indirect access",
        at_module('exec("import time; time.perf_counter = lambda: 0.0")'),
    ),
    Variant(
        "builtins patched",
        "indirect access",
        at_module("import builtins\nbuiltins.print = lambda *a, **k: None"),
    ),
    Variant(
        "print rebound to rewrite train_time",
        "indirect access",
        at_module(
            "_print = print\n\n\ndef print(*args, **kwargs):\n"
            '    _print(*[str(a).replace("train_time:", "train_time:1") for a in args], **kwargs)\n'
        ),
    ),
    Variant(
        "frame globals rewritten through inspect",
        "indirect access",
        at_module('import inspect\ninspect.currentframe().f_globals["time"] = None'),
    ),
    Variant(
        "clock found through gc.get_objects",
        "indirect access",
        at_module('import gc\n_clocks = [o for o in gc.get_objects() if type(o).__name__ == "TrainingClock"]'),
    ),
    Variant("ctypes", "indirect access", at_module("import ctypes")),
    Variant(
        "stdout replaced by a filter",
        "indirect access",
        at_module('import sys\nsys.stdout = open(os.devnull, "w")'),
    ),
    Variant(
        "clock restarted late",
        "timer",
        before(
            "        x, y = train_loader.next_batch()\n", "        if step == 5:\n            clock = TrainingClock()\n"
        ),
    ),
    # validation: its data, its size, its loader, the model trained on it
    Variant(
        "val_tokens shrunk in main",
        "validation",
        before("    val_steps = args.val_tokens", "    args.val_tokens = 16384\n"),
    ),
    Variant(
        "val_tokens shrunk through the environment",
        "indirect access",
        at_module('os.environ["NANOGPT_VAL_TOKENS"] = "16384"'),
    ),
    Variant(
        "validation files redirected through os.environ.update",
        "indirect access",
        at_module('os.environ.update(NANOGPT_VAL_FILES="data/mini-v1/mini_train_*.bin")'),
    ),
    Variant(
        "validation loader pointed at training data",
        "validation",
        replace(
            (
                "DataLoader(args.input_val_bin, args.val_batch_size, T)",
                "DataLoader(args.input_bin, args.val_batch_size, T)",
            )
        ),
    ),
    Variant(
        "training loader fed validation data",
        "validation",
        replace(
            ("train_loader = DataLoader(args.input_bin, B, T)", "train_loader = DataLoader(args.input_val_bin, B, T)")
        ),
    ),
    Variant(
        "validation files default to the training shards",
        "validation",
        replace(
            (
                'os.environ.get("NANOGPT_VAL_FILES", "data/mini-v1/mini_val_*.bin")',
                'os.environ.get("NANOGPT_TRAIN_FILES", "data/mini-v1/mini_train_*.bin")',
            )
        ),
    ),
    Variant(
        "one validation step",
        "validation",
        replace(("val_steps = args.val_tokens // (args.val_batch_size * T)", "val_steps = 1")),
    ),
    Variant(
        "evaluate reads half the batches",
        "validation",
        replace(("    for _ in range(val_steps):\n", "    for _ in range(val_steps // 2):\n")),
    ),
    Variant(
        "loader method patched from outside its class",
        "indirect access",
        before("\ndef main():\n", "DataLoader.reset = lambda self: None\n\n"),
    ),
    Variant(
        "loader given a base class that overrides it",
        "untimed code",
        validating(
            replace(
                (
                    "class DataLoader:\n",
                    "class _Short:\n    def next_batch(self):\n        return None\n\n\nclass DataLoader(_Short):\n",
                ),
            ),
        ),
    ),
    Variant(
        "model trained on validation batches",
        "validation",
        after(
            "        loss.backward()\n",
            "        x_val, y_val = val_loader.next_batch()\n        model(x_val, y_val).backward()\n",
        ),
    ),
    # step lines
    Variant(
        "fake final step line",
        "step line",
        before(
            '    print0(f"peak memory consumption:',
            '    print(f"step:{N}/{N} val_loss:3.0000 train_time:1ms step_avg:0.02ms")\n',
        ),
    ),
    Variant(
        "fake step line assembled from pieces",
        "step line",
        before(
            '    print0(f"peak memory consumption:',
            '    print("st" + "ep:50/50 val_loss:3.0000 train_" + "time:1ms step_avg:0.02ms")\n',
        ),
    ),
    Variant(
        "fake step line written as bytes",
        "step line",
        before(
            '    print0(f"peak memory consumption:',
            '    os.write(1, b"step:50/50 val_loss:3.0000 train_time:1ms step_avg:0.02ms\\n")\n',
        ),
    ),
    Variant(
        "step-line f-string reports half the time",
        "step line",
        replace(('f"train_time:{train_time_ms:.0f}ms', 'f"train_time:{train_time_ms / 2:.0f}ms')),
    ),
    Variant(
        "validation line given half the time",
        "timer",
        replace(
            (
                "evaluate(model, val_loader, val_steps), train_time_ms)",
                "evaluate(model, val_loader, val_steps), train_time_ms / 2)",
            )
        ),
    ),
    # the seed
    Variant("seed fixed", "seed", replace(("torch.manual_seed(args.seed)", "torch.manual_seed(0)"))),
    Variant("seed ignored", "seed", replace(("    torch.manual_seed(args.seed)\n", ""))),
    Variant("seed overwritten in the environment", "indirect access", at_module('os.environ["SPEEDRUN_SEED"] = "0"')),
    Variant(
        "seed hyperparameter fixed",
        "seed",
        replace(('seed: int = int(os.environ.get("SPEEDRUN_SEED", "0"))', "seed: int = 0")),
    ),
    Variant("numpy seeded", "seed", before("    torch.manual_seed(args.seed)\n", "    np.random.seed(1234)\n")),
    # work moved out of the timer
    Variant(
        "training before the clock starts",
        "training before the clock",
        before("    clock = TrainingClock()\n", PRETRAIN),
    ),
    Variant(
        "training while the clock is stopped",
        "untimed code",
        after(
            "            print_val_line(step, N, evaluate(model, val_loader, val_steps), train_time_ms)\n",
            "            model(*train_loader.next_batch()).backward()\n",
        ),
    ),
]

HONEST = [
    Variant(
        "architecture: GELU MLP, one more layer",
        "",
        replace(
            ("return self.c_proj(F.relu(self.c_fc(x)).square())", "return self.c_proj(F.gelu(self.c_fc(x)))"),
            ("n_layer: int = 4", "n_layer: int = 5"),
        ),
    ),
    Variant(
        "optimiser: Muon lr and Adam betas",
        "",
        replace(("muon_lr: float = 0.045", "muon_lr: float = 0.05"), ("betas=(0.9, 0.95)", "betas=(0.8, 0.95)")),
    ),
    Variant(
        "hyperparameters: steps, batch, cooldown",
        "",
        replace(
            ("num_iterations: int = 50", "num_iterations: int = 45"),
            ("batch_size: int = 8 ", "batch_size: int = 12 "),
            ("warmdown_iters: int = 7", "warmdown_iters: int = 9"),
        ),
    ),
    Variant(
        "refactor: functions renamed everywhere",
        "",
        lambda text: text.replace("zeropower_via_newtonschulz5", "newton_schulz").replace("get_lr(", "lr_multiplier("),
    ),
    Variant(
        "comments and formatting beside the timer",
        "",
        replace(
            (
                "self.elapsed_ms += 1000 * (time.perf_counter() - self.t0)",
                "self.elapsed_ms += 1000*(time.perf_counter()-self.t0)  # accumulate the training time",
            ),
            (
                "    clock = TrainingClock()\n",
                "\n    # the clock starts here; validation pauses it\n    clock = TrainingClock( )\n",
            ),
        ),
    ),
    Variant(
        "a new helper used by the model",
        "",
        replace(
            (
                "\nclass GPT(nn.Module):",
                "\ndef rms(x):\n    return F.rms_norm(x, (x.size(-1),))\n\n\nclass GPT(nn.Module):",
            ),
            ("x = x0 = F.rms_norm(x, (x.size(-1),))", "x = x0 = rms(x)"),
        ),
    ),
    Variant(
        "an informational print about the validation loader",
        "",
        after(
            "    val_loader = DataLoader(args.input_val_bin, args.val_batch_size, T)\n",
            '    print0(f"validation: {val_loader.ntok_total} tokens in {len(val_loader.files)} files")\n',
        ),
    ),
    Variant(
        "a synchronize before the clock stops",
        "",
        before("            train_time_ms = clock.stop()\n", "            torch.cuda.synchronize()\n"),
    ),
    Variant(
        "imports on one line", "", replace(("import os\nimport resource\nimport time\n", "import os, resource, time\n"))
    ),
    Variant(
        "a compiler setting",
        "",
        at_module("torch._inductor.config.coordinate_descent_tuning = True"),
    ),
    Variant(
        "an environment variable of its own",
        "",
        at_module('os.environ["TORCHINDUCTOR_CACHE_DIR"] = "/tmp/inductor"'),
    ),
]


def flagged_for(original: str, variant: Variant) -> list[str] | None:
    edited = variant.edit(original)
    if edited is None:
        return None
    assert syntax_error(edited) is None, variant.name
    return whole_script_violations(original, edited)


@pytest.mark.parametrize("cheat", CHEATS, ids=lambda v: v.name)
def test_cheat_is_flagged_with_its_reason(cheat):
    found = flagged_for(SELF_MEASURED, cheat)
    assert found is not None, f"{cheat.name}: the edit does not apply to the fixture"
    assert any(line.startswith(cheat.reason) or f"/{cheat.reason}" in line.split(":")[0] for line in found), (
        cheat.name,
        found,
    )


@pytest.mark.parametrize("honest", HONEST, ids=lambda v: v.name)
def test_honest_edit_is_not_flagged(honest):
    found = flagged_for(SELF_MEASURED, honest)
    assert found == [], (honest.name, found)


def test_there_are_enough_cheats_of_every_kind():
    kinds = {"timer", "validation", "step line", "seed", "indirect access", "training before the clock", "untimed code"}
    assert len(CHEATS) >= 25 and {c.reason for c in CHEATS} == kinds


def test_an_unchanged_or_reformatted_script_is_clean():
    assert whole_script_violations(SELF_MEASURED, SELF_MEASURED) == []
    spaced = SELF_MEASURED.replace("\n\n", "\n\n\n").replace("    # evaluation\n", "    # evaluation (held)\n")
    assert whole_script_violations(SELF_MEASURED, spaced) == []


def test_a_candidate_that_does_not_parse_gets_its_syntax_error():
    assert whole_script_violations(SELF_MEASURED, "def broken(:\n")[0].startswith("SyntaxError:")
    with pytest.raises(ValueError):
        whole_script_violations("def broken(:\n", SELF_MEASURED)


def test_reordered_measuring_statements_are_flagged():
    stop = "            train_time_ms = clock.stop()\n"
    report = "            print_val_line(step, N, evaluate(model, val_loader, val_steps), train_time_ms)\n"
    swapped = replace((stop + report, report + stop))(SELF_MEASURED)
    found = whole_script_violations(SELF_MEASURED, swapped)
    assert found and any("reordered" in line or "untimed" in line for line in found), found


# The speedrun's untimed warm-up (records 22 on): save the state, train to compile the kernels,
# restore the state, then start the clock.
WARMUP = """import copy
import time

import torch

model = torch.nn.Linear(4, 4)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(8, 4)
initial_state = dict(model=copy.deepcopy(model.state_dict()), opt=copy.deepcopy(opt.state_dict()))
for _ in range(3):
    model(x).square().mean().backward()
    opt.step()
model.load_state_dict(initial_state["model"])
opt.load_state_dict(initial_state["opt"])
del initial_state

training_time_ms = 0
t0 = time.perf_counter()
for step in range(10):
    model(x).square().mean().backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    approx = training_time_ms + 1000 * (time.perf_counter() - t0)
    print(f"step:{step + 1}/10 train_time:{approx:.0f}ms step_avg:1.00ms")
"""
SNAPSHOT = "initial_state = dict(model=copy.deepcopy(model.state_dict()), opt=copy.deepcopy(opt.state_dict()))\n"
WARM = "for _ in range(3):\n    model(x).square().mean().backward()\n    opt.step()\n"


def test_the_warm_up_is_free_between_saving_and_restoring_the_state():
    honest = WARMUP.replace("for _ in range(3):\n    model(x).square()", "for _ in range(5):\n    model(x).abs()")
    assert whole_script_violations(WARMUP, honest) == []
    cheats = {
        "state not restored": WARMUP.replace('model.load_state_dict(initial_state["model"])\n', ""),
        "trained after the restore": WARMUP.replace("del initial_state\n", "del initial_state\n" + WARM),
        "state saved after the warm-up": WARMUP.replace(SNAPSHOT + WARM, WARM + SNAPSHOT),
    }
    for name, edited in cheats.items():
        assert edited != WARMUP, name
        found = whole_script_violations(WARMUP, edited)
        assert any(line.startswith("training before the clock") for line in found), (name, found)


# -----------------------------------------------------------------------------
# The mini track's records in records.git


def mini_scripts() -> dict[int, str]:
    repo = pygit2.Repository(str(paths.records_repo()))
    commit = repo.revparse_single("refs/heads/mini").peel(pygit2.Commit)
    scripts = {}
    while True:
        index = int(re.search(r"^index = (\d+)$", commit.tree["record.toml"].data.decode(), re.M).group(1))
        scripts[index] = commit.tree["train_gpt.py"].data.decode()
        if not commit.parents:
            return scripts
        commit = commit.parents[0]


@pytest.fixture(scope="module")
def mini():
    return mini_scripts()


def test_mini_records_are_clean_against_themselves_reformatted(mini):
    for index in (1, 11, 21):
        spaced = mini[index].replace("\n\n", "\n\n\n").replace("  # ", "    # ")
        assert whole_script_violations(mini[index], spaced) == [], index


@pytest.mark.parametrize("index", [21])
def test_cheats_are_flagged_on_the_mini_records(mini, index):
    applied = 0
    for cheat in CHEATS:
        found = flagged_for(mini[index], cheat)
        if found is None:
            continue  # a cheat on something this record does not have (the harness measures it)
        applied += 1
        assert found, (index, cheat.name)
    assert applied >= 20, applied


# -----------------------------------------------------------------------------
# Several files


def test_record_files_that_would_replace_modules_or_run_at_start_up_are_flagged():
    original = {"train_gpt.py": SELF_MEASURED}
    for path in ("torch.py", "numpy/__init__.py", "sitecustomize.py", "hook.pth"):
        found = whole_record_violations(original, {**original, path: "x = 1\n"})
        assert any(line.startswith(path) for line in found), (path, found)


def test_a_helper_module_is_held_like_the_script():
    original = {"train_gpt.py": SELF_MEASURED}
    patched = {**original, "helpers.py": "import time\n\ntime.perf_counter = lambda: 0.0\n"}
    assert any(line.startswith("helpers.py: indirect access") for line in whole_record_violations(original, patched))
    kernels = {**original, "kernels.py": "import torch\n\n\ndef fused(x):\n    return torch.relu(x).square()\n"}
    assert whole_record_violations(original, kernels) == []


def test_a_long_list_of_violations_is_summarised_in_a_few_lines():
    found = [f"validation: record line {n} `x` is changed or missing" for n in range(30)] + ["timer: `t0` is new"]
    short = summary(found, limit=5)
    assert len(short) == 5 and short[:4] == found[:4]
    assert short[-1] == "... and 27 more (validation 26, timer 1)"
    assert summary(found[:3]) == found[:3]


def test_the_agent_uses_the_same_rules():
    from agent import rules

    assert rules.protected_violations is protected_violations
    assert rules.whole_script_violations is whole_script_violations


# -----------------------------------------------------------------------------
# Real records (a modded-nanogpt clone; a bare mirror works)

CHECKOUT = os.environ.get("SPEEDRUN_NANOGPT_CHECKOUT")


@pytest.fixture(scope="module")
def real():
    """The scripts of records 12 and 21, read from their logs in the checkout."""
    if not CHECKOUT:
        pytest.skip("needs SPEEDRUN_NANOGPT_CHECKOUT (a modded-nanogpt clone)")
    from replay.importer.log_reader import split_log
    from replay.importer.readme_table import parse_record_table

    repo = pygit2.Repository(pygit2.discover_repository(CHECKOUT))
    tree = repo.revparse_single("HEAD").peel(pygit2.Commit).tree
    rows = {row.number: row for row in parse_record_table((tree / "README.md").data.decode())}
    scripts = {}
    for number in (12, 21):
        entry = tree / rows[number].log
        if isinstance(entry, pygit2.Tree):
            entry = next(e for e in entry if e.name.endswith(".txt"))
        scripts[number] = split_log(entry.data.decode()).main_source
    return scripts


def real_cheats(text: str) -> dict[str, str]:
    clock = "time.perf_counter()" if "time.perf_counter()" in text else "time.time()"
    stop = f"        torch.cuda.synchronize()\n        training_time_ms += 1000 * ({clock} - t0)\n"
    edits = {
        "synchronize before the clock stops removed": text.replace(stop, stop.split("\n", 1)[1], 1),
        "val_tokens changed": re.sub(r"val_tokens( ?: ?int)? = 10485760", r"val_tokens\1 = 1048576", text, count=1),
        "more steps excluded from the clock": text.replace("if step == 10:", "if step == 100:", 1),
        "fake final step line": text + '\nprint("step:1770/1770 val_loss:3.2000 train_time:1ms step_avg:0.01ms")\n',
        "perf_counter patched": text.replace("import time\n", "import time\ntime.perf_counter = lambda: 0.0\n", 1),
        "validation on training files": re.sub(
            r"(val_loader = \w+\()args\.(input_val_bin|val_files)",
            lambda m: m.group(1) + ("args.input_bin" if m.group(2) == "input_val_bin" else "args.train_files"),
            text,
            count=1,
        ),
        "training before the clock": text.replace(
            "training_time_ms = 0\n", "model(x, y).backward()\ntraining_time_ms = 0\n", 1
        ),
    }
    return {name: edited for name, edited in edits.items() if edited != text}


@pytest.mark.parametrize("number", [12, 21])
def test_real_records_cheats_are_flagged_and_honest_edits_are_not(real, number):
    text = real[number]
    assert whole_script_violations(text, text) == []
    cheats = real_cheats(text)
    assert len(cheats) >= 6, sorted(cheats)
    for name, edited in cheats.items():
        assert whole_script_violations(text, edited), (number, name)
    honest = re.sub(
        r"(num_iterations ?(: ?int)? ?= ?)(\d+)", lambda m: m.group(1) + str(int(m.group(3)) - 20), text, count=1
    )
    honest = re.sub(r"lr=0\.(\d+)", lambda m: f"lr=0.{m.group(1)}1", honest, count=1)
    assert honest != text
    assert whole_script_violations(text, honest) == [], number
