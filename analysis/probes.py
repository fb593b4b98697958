"""Behavioural probes: does the candidate's code *do* what record i+1's innovation does?

The static layers (:mod:`analysis.ideas`, statement matching) compare how code is written; an idea
computed by another mechanism (an exact SVD for Newton-Schulz, ``clamp(min=0) ** 2`` for
``relu(x).square()``, a sigmoid for a tanh) shares few features with record i+1's. A probe loads
a script's definitions at a tiny size on CPU, without training, and measures one behaviour
(:mod:`analysis.probe_worker` lists them: a squared-ReLU MLP, the bound on the logits, normalised
queries and keys, an orthogonalised optimiser update, a quantity the training loop ramps up).

**Which probe.** An innovation gets the probes its name names (``ReLU squared`` ->
``squared_relu``, ``softcap`` -> ``bounded_logits``, ``fp32 logits`` -> ``fp32_logits``, ``QK-norm`` ->
``qk_normalised``, ``rotary`` -> ``relative_positions``, ``half-truncated rotary`` ->
``rotation_free_channels`` too, ``Muon`` / ``orthogonal`` -> ``orthogonal_update``, ``per-block``
orthogonalisation -> ``blockwise_orthogonal`` too, ``batched Muon`` -> ``stacked_orthogonal`` too,
``Muon rescaled`` -> ``update_shape_scale`` too, ``distributed
Muon`` -> ``sharded_orthogonalisation`` (other ways Muon communicates: none), ``untied embedding and
head`` -> ``untied_head``, ``dropped attention`` ->
``attention_calls``, ``block sliding window`` -> ``block_window``,
``long-short ... windows`` -> ``mixed_windows``,
``attention scale`` -> ``attention_scale``, ``head size 128`` -> ``head_width``, ``FP8 lm_head`` -> ``fp8_head``,
``Newton-Schulz reformulation`` -> ``gram_squaring_share``,
``CastedLinear`` -> ``cast_linears``, ``learning-rate floor`` -> ``lr_floor``, ``doubled learning rates``
(a change of learning rates alone) -> ``learning_rates``, ``smaller ... init`` ->
``init_scale``, ``zero-init projections`` -> ``zero_projections``, ``value residual`` ->
``values_read_first_attention``, ``value embeddings`` ->
``values_read_embeddings``, ``U-net value embeddings`` / ``sparse value embeddings`` ->
``mirrored_value_embeddings`` / ``ends_only_value_embeddings``, ``split value embeddings`` ->
``separate_value_tables``, ``embedding skip connections`` -> ``embedding_skips``,
``norm after embedding`` -> ``normalised_embedding``, ``bf16 embeddings`` ->
``bf16_embeddings``, ``gradient normalisation`` -> ``unit_gradients``, ``momentum warmup`` / ``window
warmup`` -> ``rising:momentum`` / ``rising:window``); the others have none. Of several, the first
that tells the records apart decides.

**When it decides.** Only where the probe tells the records apart: record i+1 measurably has the
behaviour and record i does not (a boolean probe: True against False or unmeasurable; a number:
record i+1's differs from record i's by more than 20%; a number per kind of parameter, such as
the learning rates, where one kind's does; a count, such as the attention calls of a
forward pass, by any amount; the spread of initial weights by 5%). Then the candidate's measurement
decides: it has record i+1's behaviour (a number within 10% of record i+1's, a count equal to it, a
spread within 3%) -> reproduced; record i's behaviour (within 10% of record i's, or False) -> not
reproduced. A setting whose idea is its direction (the softmax scale) is reproduced by moving from
record i's number the way record i+1 did, at least half as far, and not by moving the other way;
so are learning rates, each kind that record i+1 changed (a part of them moved: the static layers
decide). A
candidate the probe cannot measure (a definition that does not load on CPU, optimisers built only on a
GPU, a number in between) is left to the static layers, and the report says which layer
decided. So is a "not reproduced" of a probe that builds the model from the
script's classes when the candidate's own top-level code reworks the model after building it
(``model = to_bf16_compute(model)``, ``parametrize.register_parametrization(model...)``; not the
training loop's calls, which run the model): the probe's model never went through that code. Gold
(record i+1) and null (record i) verdicts therefore stay exact.

**Where it runs.** In a worker process inside the sandbox of every untrusted run
(:mod:`replay.run.sandbox`), started on first use and reused. The process's prober
(:func:`shared_prober`) asks the warm server of :mod:`analysis.probe_server`, which keeps one worker
across processes, so torch is imported once for many calls (``SPEEDRUN_PROBE_SERVER=0``: a worker per
process, as a :class:`Prober` built directly has). Measurements are cached by script text, in memory
and in ``SPEEDRUN_HOME/probes/`` (per version of the worker), so a task's records are measured once and
a probe that does not tell them apart costs nothing afterwards. Where no sandbox is available the
probes do not run (static layers decide), unless the sandbox was built to allow running
unsandboxed.
"""

from __future__ import annotations

import ast
import atexit
import functools
import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from analysis import probe_worker
from analysis.probe_process import WORKER_VERSION, Worker, failed

SERVER_VARIABLE = "SPEEDRUN_PROBE_SERVER"  # "0": every process starts a worker of its own
APART = 0.2  # relative difference of record i's and record i+1's numbers for a numeric probe to apply
CLOSE = 0.1  # relative distance of the candidate's number to one record's to count as that record's
# (apart, close) where a probe measures finer or coarser than that: a count differs by any amount
# (12 -> 11 attention layers), a weight's spread is measured to a percent (0.58 -> 0.5)
TOLERANCE = {"attention_calls": (0.0, 0.0), "init_scale": (0.05, 0.03)}
# Numeric probes of a setting whose idea is its direction (a softmax scale above the default): the
# candidate reproduces it by moving from record i's number the way record i+1 did, at least half as far
DIRECTIONAL = frozenset({"attention_scale"})

# probe -> a pattern over an innovation's name that calls for it (descriptions mention neighbouring
# ideas: "Muon's momentum", "the softcap's threshold")
SELECT = {
    "squared_relu": re.compile(r"relu\s*(squared|²|\^2|\*\*\s*2)", re.I),
    "bounded_logits": re.compile(r"soft[- ]?cap", re.I),
    "fp32_logits": re.compile(r"\b(fp32|float32)\b.*\blogits\b|\blogits\b.*\b(fp32|float32)\b", re.I),
    "qk_normalised": re.compile(r"qk[- ]?norm", re.I),
    "relative_positions": re.compile(r"\brotary\b|\brope\b", re.I),
    # an optimiser, not a re-tune of its numbers ("re-tuned Muon lr") nor how it communicates
    "orthogonal_update": re.compile(
        r"^(?!.*\b(lr|learning rate|re-?tuned|distributed|communication|all_?gather|buffer)\b)"
        r".*(\bmuon\b|orthogonali[sz])",
        re.I,
    ),
    "blockwise_orthogonal": re.compile(
        r"(per[- ]block|block[- ]?wise|\bqkv\b).*(orthogonal|muon)|\bmuon\b.*(per[- ]block|block[- ]?wise)", re.I
    ),
    "stacked_orthogonal": re.compile(r"\b(batched|stacked)\b.*(\bmuon\b|newton|orthogonal)", re.I),
    "update_shape_scale": re.compile(r"\bmuon\b.*\brescal|\brescal\w*\b.*\bmuon\b", re.I),
    "untied_head": re.compile(r"\buntie[ds]?\b", re.I),
    "sharded_orthogonalisation": re.compile(r"\bdistributed\b.*\bmuon\b|\bmuon\b.*\b(sharded|distributed)\b", re.I),
    "rotation_free_channels": re.compile(
        r"\b(half|partial|truncated)\b.*\brotary\b|\brotary\b.*\b(half|partial|truncated)\b", re.I
    ),
    "attention_calls": re.compile(
        r"\b(drop|dropped|remove[sd]?|skip(ped|s)?)\b.*\battention\b|\battention\b.*\b(dropped|removed|skipped)\b",
        re.I,
    ),
    "block_window": re.compile(r"\bblock\b.*\bwindow\b|\bwindow\b.*\bblocks?\b", re.I),
    "mixed_windows": re.compile(r"\blong[- ]short\b.*\bwindows?\b", re.I),
    "gram_squaring_share": re.compile(
        r"\bnewton[- ]schulz\b.*\breformulat|\breformulat\w*\b.*\bnewton[- ]schulz\b", re.I
    ),
    "fp8_head": re.compile(r"\bfp8\b.*\b(lm_)?head\b|\bhead\b.*\bfp8\b", re.I),
    "attention_scale": re.compile(r"\b(attention|softmax)[- ]scale\b", re.I),
    "head_width": re.compile(r"\bhead[- _](size|dim|width)\b", re.I),
    # the cast itself, not a later change inside CastedLinear ("FP8 in CastedLinear")
    "cast_linears": re.compile(r"^(?!.*\bfp8\b).*\bcast(ed)?[- ]?linear", re.I),
    "values_read_first_attention": re.compile(r"\bvalue[- ]residual", re.I),
    "values_read_embeddings": re.compile(r"^(?!.*\b(u-?net|sparse|split|mirror\w*)\b).*\bvalue[- ]embed", re.I),
    "mirrored_value_embeddings": re.compile(r"(\bu-?net\b|\bmirror\w*).*\bvalue[- ]embed", re.I),
    "ends_only_value_embeddings": re.compile(r"\bsparse\b.*\bvalue[- ]embed", re.I),
    "normalised_embedding": re.compile(r"\bnorm(ali[sz]ed|ali[sz]ation)?\b.*\bafter\b.*\bembedd?ing", re.I),
    "embedding_skips": re.compile(r"\bembedding\b.*\bskips?\b|\bskips?\b.*\bfrom the embedding\b", re.I),
    "separate_value_tables": re.compile(r"\bsplit\b.*\bvalue[- ]embed", re.I),
    "bf16_embeddings": re.compile(r"\b(bf16|bfloat16)\b.*\bembedd?ings?\b|\bembedd?ings?\b.*\b(bf16|bfloat16)\b", re.I),
    "unit_gradients": re.compile(r"\bgrad(ient)?s?\b.*\bnormali[sz]|\bnormali[sz]\w*\b.*\bgrad", re.I),
    "init_scale": re.compile(r"\b(smaller|larger|scaled?|narrower|wider)\b.*\binit", re.I),
    "zero_projections": re.compile(r"\bzero[- ]?init", re.I),
    "lr_plateau": re.compile(r"\btrapezo|\bwarmup[- ]stable[- ]decay\b|\bwsd\b", re.I),
    # a change of learning rates alone: not their schedule, nor a re-tune bundled with other numbers
    "learning_rates": re.compile(
        r"^(?!.*\b(schedule|floor|warm-?up|warmdown|cool-?down|momentum|scale|batch)\b).*\blearning[- ]rates?$", re.I
    ),
    "lr_floor": re.compile(
        r"(learning[- ]rate|\blr\b).*\bfloor\b|\bfloor\b.*(learning[- ]rate|\blr\b)|\bmin(imum)?[- _]lr\b", re.I
    ),
}


RISING = re.compile(r"\b(momentum|window)\b.*\bwarm-?up\b", re.I)  # a quantity the training loop ramps up


def probes_for(name: str) -> list[str]:
    """The probes an innovation calls for (by its name)."""
    found = [probe for probe, pattern in SELECT.items() if pattern.search(name)]
    ramp = RISING.search(name)
    if ramp:
        found = [f"rising:{ramp.group(1).lower()}"]  # "Muon momentum warmup" is about the momentum, not Muon
    return found


def innovation_probes(innovation) -> list[str]:
    """The probes of an innovation: those its name selects, then those its label names (``probes`` in
    record.toml: a name too general to select one, as record 4's "Muon optimizer")."""
    return list(dict.fromkeys([*probes_for(innovation.name), *innovation.probes]))


def probe_exists(name: str) -> bool:
    """Whether the probe worker measures a probe of this name (``rising:WORD`` for any word)."""
    kind, _, word = name.partition(":")
    if kind == "rising":
        return bool(re.fullmatch(r"[a-z_]+", word))
    return name in probe_worker.PROBES or name in probe_worker.SCRIPT_PROBES


@dataclass
class ProbeVerdict:
    """One probe's measurements of record i, record i+1 and the candidate, and what they decide."""

    probe: str
    base: object
    target: object
    candidate: object
    decided: bool | None  # reproduced / not reproduced / left to the static layers
    why: str

    def to_json(self) -> dict:
        return {
            "probe": self.probe,
            "base": self.base,
            "target": self.target,
            "candidate": self.candidate,
            "decided": self.decided,
            "why": self.why,
        }


def _close(x: float, y: float, rel: float) -> bool:
    return abs(x - y) <= rel * max(abs(x), abs(y), 1e-9)


def _tolerance(probe: str) -> tuple[float, float]:
    return TOLERANCE.get(probe, (APART, CLOSE))


def tells_apart(base, target, probe: str) -> bool:
    """Whether record i+1 measurably has a behaviour record i lacks."""
    if isinstance(target, bool):
        return target and base is not True
    apart, _ = _tolerance(probe)
    if isinstance(target, dict):
        return isinstance(base, dict) and bool(_moved_kinds(base, target, apart))
    return isinstance(target, float) and isinstance(base, float) and not _close(base, target, apart)


def _moved_kinds(base: dict, target: dict, apart: float) -> list[str]:
    """The kinds of a measurement by kind (the learning rate of each kind of parameter) that record
    i+1 changed."""
    return [k for k in target if k in base and not _close(base[k], target[k], apart)]


def _judge_kinds(base: dict, target: dict, candidate: dict) -> tuple[bool | None, str]:
    """A measurement by kind: every kind record i+1 changed moves from record i's number the way
    record i+1's does, at least half as far in ratio (a rate doubled where record i+1 quadrupled it
    counts) -> reproduced; every such kind stays at record i's number, or one moves the other way ->
    not reproduced; else (some moved, some not: a part of the idea) the static layers decide."""
    moved = _moved_kinds(base, target, APART)
    missing = [k for k in moved if not isinstance(candidate.get(k), float) or candidate[k] <= 0]
    if missing:
        return None, f"the candidate has no {', '.join(missing)} to measure"
    # log ratios: a rate doubled and a rate halved are equally far from record i's
    wanted = {k: math.log(target[k] / base[k]) for k in moved}
    went = {k: math.log(candidate[k] / base[k]) for k in moved}
    if all(went[k] * wanted[k] > 0 and abs(went[k]) >= abs(wanted[k]) / 2 for k in moved):
        return True, f"the candidate moves {', '.join(moved)} from record i as record i+1 does"
    if any(went[k] * wanted[k] < 0 and not _close(candidate[k], base[k], CLOSE) for k in moved):
        return False, "the candidate moves a number record i+1 changed the other way"
    if all(_close(candidate[k], base[k], CLOSE) for k in moved):
        return False, "the candidate measures as record i"
    return None, "the candidate moves part of what record i+1 changed, or less than half as far"


def judge(probe: str, base, target, candidate, why: str = "") -> ProbeVerdict:
    """What the three measurements decide (see the module docstring)."""

    def verdict(decided, reason):
        return ProbeVerdict(probe, base, target, candidate, decided, reason)

    _, close = _tolerance(probe)
    if not tells_apart(base, target, probe):
        return verdict(None, "the probe does not tell record i from record i+1")
    if isinstance(target, bool):
        if candidate is None:
            return verdict(None, f"cannot measure the candidate ({why})")
        return verdict(bool(candidate), "the candidate has the behaviour" if candidate else "the candidate lacks it")
    if isinstance(target, dict):
        if not isinstance(candidate, dict):
            return verdict(None, f"cannot measure the candidate ({why})")
        return verdict(*_judge_kinds(base, target, candidate))
    if not isinstance(candidate, float):
        return verdict(None, f"cannot measure the candidate ({why})")
    if probe in DIRECTIONAL:
        moved, wanted = candidate - base, target - base
        if moved * wanted > 0 and abs(moved) >= abs(wanted) / 2:
            return verdict(True, "the candidate moves from record i as record i+1 does")
        if moved * wanted < 0 or _close(candidate, base, close):
            return verdict(False, "the candidate stays at record i or moves the other way")
        return verdict(None, "the candidate moves less than half as far as record i+1")
    if _close(candidate, target, close):
        return verdict(True, "the candidate measures as record i+1")
    if _close(candidate, base, close):
        return verdict(False, "the candidate measures as record i")
    return verdict(None, "the candidate measures between the records")


CACHE_ENTRIES = 20000


def default_cache_file() -> Path:
    """Measurements persist across processes (a task's records are measured once), per worker version."""
    from replay.paths import home

    return home() / "probes" / f"{WORKER_VERSION}.json"


class Prober:
    """Measurements by a sandboxed probe worker, cached by script text, in memory and in ``cache_file``
    (None: in memory only). The worker is the warm server's (:mod:`analysis.probe_server`) where
    ``server`` is true and one can run here, else a process of this prober's own."""

    def __init__(self, sandbox=None, cache_file: Path | None = None, server: bool = False):
        if sandbox is None:
            from replay.run.sandbox import untrusted_sandbox

            sandbox = untrusted_sandbox()
        self.sandbox = sandbox
        self.unavailable = sandbox.unavailable()
        self.worker = None
        if server and not self.unavailable:
            from analysis.probe_server import ServerClient

            self.worker = ServerClient.for_sandbox(sandbox)
        if self.worker is None:
            self.worker = Worker(sandbox)
        self.cache_file = cache_file
        self.cache: dict[str, dict] = {}
        self.pending: tuple[str, list[str]] | None = None  # (script key, probes) sent ahead, unread
        if cache_file is not None and cache_file.is_file():
            try:  # a failure an earlier version kept is no measurement
                self.cache = {k: v for k, v in json.loads(cache_file.read_text()).items() if not _failure(v)}
            except (OSError, ValueError, AttributeError, KeyError, TypeError):
                self.cache = {}

    def _save(self) -> None:
        if self.cache_file is None:
            return
        entries = list(self.cache.items())[-CACHE_ENTRIES:]
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.cache_file.parent, prefix=".probes-")
        with os.fdopen(fd, "w") as f:
            json.dump(dict(entries), f)
        os.replace(tmp, self.cache_file)

    def close(self) -> None:
        self.worker.close()

    def __del__(self):
        if hasattr(self, "worker"):
            self.close()

    def cached(self, text: str, probes: list[str]) -> dict[str, dict] | None:
        """The measurements of one script if every one is cached, else None."""
        key = _script_key(text)
        if all(f"{key}:{p}" in self.cache for p in probes):
            return {p: self.cache[f"{key}:{p}"] for p in probes}
        return None

    def start(self) -> None:
        """Start the worker unless it runs (or no sandbox is here); it imports torch while the caller
        goes on."""
        if not self.unavailable:
            self.worker.start()

    def prefetch(self, text: str, probes: list[str]) -> None:
        """Send one script's measurement ahead: the worker measures it while the caller goes on, and
        :meth:`measure` reads the answer. One at a time."""
        if self.unavailable or self.pending is not None:
            return
        key = _script_key(text)
        missing = [p for p in probes if f"{key}:{p}" not in self.cache]
        if missing:
            self.worker.send(text, missing)
            self.pending = (key, missing)

    def measure(self, text: str, probes: list[str]) -> dict[str, dict]:
        """probe -> {"value", "why"} for one script."""
        key = _script_key(text)
        fresh: dict[str, dict] = {}
        if self.pending is not None:  # answers come in the order asked: the one sent ahead first
            sent_key, sent = self.pending
            self.pending = None
            received = self.worker.receive(sent)
            self._remember(sent_key, sent, received)
            if sent_key == key:
                fresh = received
        missing = [p for p in probes if f"{key}:{p}" not in self.cache and p not in fresh]
        if missing:
            asked = self._ask(text, missing)
            self._remember(key, missing, asked)
            fresh.update(asked)
        return {p: self.cache.get(f"{key}:{p}", fresh.get(p)) for p in probes}

    def _remember(self, key: str, probes: list[str], answers: dict[str, dict]) -> None:
        """Keep the measurements; a failure of the worker or the sandbox (a request that timed out on
        a busy machine) is not a measurement, and is asked again next time."""
        kept = {p: answers[p] for p in probes if not _failure(answers[p])}
        for probe, answer in kept.items():
            self.cache[f"{key}:{probe}"] = answer
        if kept:
            self._save()

    def _ask(self, text: str, probes: list[str]) -> dict[str, dict]:
        if self.unavailable:
            return failed(probes, f"no sandbox here: {self.unavailable}")
        return self.worker.ask(text, probes)


def _failure(answer: dict) -> bool:
    """An answer that says the worker or the sandbox failed, not what the script does."""
    return answer["why"].startswith(("probe worker:", "no sandbox here"))


def _script_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_shared: Prober | None = None


def shared_prober() -> Prober | None:
    """The process's prober (None where ``SPEEDRUN_PROBES=0`` switches probes off)."""
    global _shared
    if os.environ.get("SPEEDRUN_PROBES") == "0":
        return None
    if _shared is None:
        _shared = Prober(cache_file=default_cache_file(), server=os.environ.get(SERVER_VARIABLE) != "0")
        atexit.register(_shared.close)  # a worker of its own is waited for: its time counts as this process's
    return _shared


# probes that measure the optimisers or the training loop rather than a model built from the classes
NOT_MODEL_PROBES = frozenset({"orthogonal_update", "blockwise_orthogonal", "lr_floor", "lr_plateau", "learning_rates"})


def _model_probe(probe: str) -> bool:
    return probe not in NOT_MODEL_PROBES and not probe.startswith("rising:")


# module methods that change a model in place (a method named with a trailing _ does too)
MUTATING_METHODS = frozenset(
    {"to", "cuda", "cpu", "float", "half", "bfloat16", "double", "type", "apply", "add_module", "load_state_dict"}
    | {"register_buffer", "register_parameter", "register_forward_hook", "register_forward_pre_hook", "setattr"}
)


def _may_change(fn: ast.AST, functions: dict, seen: set) -> bool:
    """Whether a definition of the script may change what it is given: a class (a wrapper), or a
    function that assigns an attribute or an item, calls a mutating method or ``parametrize``, or
    calls another function of the script's own that may. A function that only reads the model
    (counts its layers, logs it) does not."""
    if not isinstance(fn, ast.FunctionDef) or fn.name in seen:
        return not isinstance(fn, ast.FunctionDef)
    seen.add(fn.name)
    for node in ast.walk(fn):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets):
                return True
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func).rpartition(".")[2]
            if name in MUTATING_METHODS or name.endswith("_") and not name.endswith("__") or "parametriz" in name:
                return True
            if name in functions and _may_change(functions[name], functions, seen):
                return True
    return False


@functools.lru_cache(maxsize=64)  # record i's text recurs with every candidate of its task
def _reworks(text: str) -> frozenset[str]:
    """Top-level statements (module level, a top-level function's body or the main block) that hand
    a model built from the script's classes to code of the script's own that may change it, or to
    ``parametrize``, after building it (a loop over its modules too; not the training loop, whose
    calls run the model)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return frozenset()
    own = probe_worker.own_definitions(tree)
    out = set()
    for body in probe_worker.top_level_bodies(tree):
        models: set[str] = set()
        for stmt in body:
            over_model = isinstance(stmt, ast.For) and models & {
                n.id for n in ast.walk(stmt.iter) if isinstance(n, ast.Name)
            }
            if isinstance(stmt, ast.While) or (isinstance(stmt, ast.For) and not over_model):
                continue  # the training loop runs the model it was given; it does not build it
            calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]
            reached = set(models)  # the model's names, and a loop's over its modules
            if over_model:
                reached |= {n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)}
            for call in calls:
                name = ast.unparse(call.func)
                rooted = any(isinstance(n, ast.Name) and n.id in reached for a in call.args for n in ast.walk(a))
                changes = name in own and _may_change(own[name], own, set())
                if rooted and (changes or "parametriz" in name):
                    out.add(ast.dump(stmt))
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(c.func, ast.Name) and c.func.id in own for c in calls
            ):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                models |= {t.id for t in targets if isinstance(t, ast.Name)}
    return frozenset(out)


def _probes_of(innovations) -> list[str]:
    return sorted({p for i in innovations for p in innovation_probes(i)})


def _applicable(probes: list[str], base: dict, target: dict) -> list[str]:
    """The probes whose measurements tell record i from record i+1: only these measure the candidate."""
    return [p for p in probes if tells_apart(base[p]["value"], target[p]["value"], p)]


def prepare(prober: Prober, base: str, target: str, candidate: str, innovations) -> None:
    """Start the worker now where :func:`behaviour` will measure a script (its measurements are not
    all cached), and send the candidate's measurement where the records' are: torch's import in the
    sandbox, or the candidate's measurement, then overlaps the static layers' work."""
    probes = _probes_of(innovations)
    if not probes:
        return
    b, t = prober.cached(base, probes), prober.cached(target, probes)
    if b is None or t is None:
        prober.start()
        return
    applicable = _applicable(probes, b, t)
    if applicable:  # the records are known: the candidate is measured while the static layers run
        prober.prefetch(candidate, applicable)


def behaviour(prober: Prober, base: str, target: str, candidate: str, innovations) -> dict[str, ProbeVerdict]:
    """innovation name -> the verdict of its probe (innovations without one are absent)."""
    probes = _probes_of(innovations)
    if not probes:
        return {}
    b, t = prober.measure(base, probes), prober.measure(target, probes)
    applicable = _applicable(probes, b, t)
    c = prober.measure(candidate, applicable) if applicable else {}
    reworked = bool(_reworks(candidate) - _reworks(base)) if applicable else False
    out = {}
    first = {}
    for innovation in innovations:
        first.setdefault(innovation.name, innovation)
    for name, innovation in first.items():
        for p in innovation_probes(innovation):
            cand = c.get(p, {"value": None, "why": "not measured"})
            v = judge(p, b[p]["value"], t[p]["value"], cand["value"], cand["why"])
            if v.decided is False and reworked and _model_probe(p):
                why = "the candidate reworks the model after building it, which the probe's model does not go through"
                v = replace(v, decided=None, why=why)
            if name not in out or (out[name].decided is None and v.decided is not None):
                out[name] = v
    return out
