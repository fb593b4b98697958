"""A catalogue of cheats against a harness-measured record (the bigram record of measured_records).

Each cheat is an edit of the record's script (and, for some, of its ``record.toml``) that tries
to get a better score than the work deserves, or to get out of the sandbox, and the outcome the
harness must give it:

* ``honest``: the cheat changes nothing that is scored: the run's val loss is exactly the
  unchanged record's at the same seed, its log holds no ``ESCAPED`` marker (a cheat prints one
  when an escape worked) and no secret of the harness's environment;
* ``failed``: the run fails (the cheat needs something the sandbox does not give it);
* ``refused:<words>``: the harness refuses the model with a reason containing the words;
* ``invalid``: the side is not valid (its replicates ignore the seed, or it misses the target);
* ``costly``: whatever it moved out of training is still timed: the training process's CPU time
  plus the model server's time to its first answer exceed the record's by at least half of the
  ``MOVED_WORK_S`` seconds of work the cheat moved (on a busy CI host, the honest run alone varied
  by 2 s, so the work is several times that).

Whatever the expectation, no cheat may end valid and faster than the unchanged record.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

SECRET = "sk-adversarial-0123456789"  # set in the harness's environment while the suite runs
DAEMON_MARK = "speedrun-adversarial-daemon"
MAIN = "def main():\n"
IMPORTS = "import torch.nn.functional as F\n"
FORWARD = "        logits = self.table(idx)\n"
LOAD = "def load_model(path):\n"
SAVE = '    torch.save(model.state_dict(), os.environ["SPEEDRUN_MODEL_OUT"])\n'
SEED = '    torch.manual_seed(int(os.environ.get("SPEEDRUN_SEED", "0")))\n'
CHECKED = '    assert "NANOGPT_VAL_FILES" not in os.environ and "NANOGPT_VAL_TOKENS" not in os.environ\n'
LOGITS = "            return logits\n"  # what the harness's evaluation receives
MOVED_WORK_S = 8.0  # seconds of work a ``costly`` cheat moves before the clock or into the loading


@dataclass(frozen=True)
class Cheat:
    name: str
    kind: str  # what it attacks: claims, data, evaluation, seed, record, sandbox
    edits: tuple[tuple[str, str], ...]  # (anchor, replacement) on the script
    expect: str
    toml: tuple[tuple[str, str], ...] = field(default=())  # (old, new) on record.toml (replay path only)

    def apply(self, script: str) -> str:
        for anchor, replacement in self.edits:
            assert anchor in script, (self.name, anchor)
            script = script.replace(anchor, replacement, 1)
        return script


def at(anchor: str, code: str, indent: int = 4, after: bool = True) -> tuple[str, str]:
    """Insert ``code`` (indented) right after (or before) ``anchor``."""
    block = textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", " " * indent)
    return (anchor, anchor + block) if after else (anchor, block + anchor)


LOOK_AHEAD = "30 * F.one_hot(torch.roll(idx, -1, 1), 512)"  # the next token, read from the input

CHEATS = [
    # --- the script's own claims: informational on a harness-measured track -------------------
    Cheat(
        "fake-final-val-line",
        "claims",
        (at(SAVE, "print(f'step:{STEPS}/{STEPS} val_loss:0.0100 train_time:1ms')", after=False),),
        "honest",
    ),
    Cheat("tiny-train-time", "claims", (("train_time:{step + 1}ms", "train_time:0ms"),), "honest"),
    Cheat(
        "patched-clock",
        "claims",
        (at(IMPORTS, "import time\ntime.perf_counter = time.monotonic = time.time = lambda: 0.0", 0),),
        "honest",
    ),
    Cheat(
        "clock-swapped-through-globals",
        "claims",
        (
            at(
                IMPORTS,
                """
                class _Frozen:
                    def __getattr__(self, name):
                        return lambda *a: 0.0
                globals()['time'] = _Frozen()
                """,
                0,
            ),
        ),
        "honest",
    ),
    Cheat(
        "weird-times",
        "claims",
        (
            at(
                SAVE,
                """
                for t in ('-5', 'nan', 'inf', '1_000', '１２'):
                    print(f'step:{STEPS}/{STEPS} val_loss:0.1 train_time:{t}ms')
                """,
                after=False,
            ),
        ),
        "honest",
    ),
    Cheat(
        "work-before-the-clock",
        "claims",
        (
            at(
                IMPORTS,
                f"""
                import time as _t
                _end = _t.process_time() + {MOVED_WORK_S}
                while _t.process_time() < _end:
                    pass
                """,
                0,
            ),
        ),
        "costly",
    ),
    # --- the validation data: never given to the training process ---------------------------
    Cheat("validation-from-the-environment", "data", (at(MAIN, "open(os.environ['NANOGPT_VAL_FILES'])"),), "failed"),
    Cheat(
        "validation-found-by-path",
        "data",
        (
            at(
                MAIN,
                """
                import glob as _g
                _places = [os.path.dirname(os.environ['NANOGPT_TRAIN_FILES']) + '/*val*', 'data/*/*val*']
                _places += [f'{top}/**/*_val_*.bin' for top in ('/work', '/tmp', '/root')]
                for _p in _places:
                    for _f in _g.glob(_p, recursive=True)[:1]:
                        if os.access(_f, os.R_OK):
                            print('ESCAPED validation data at', _f)
                """,
            ),
        ),
        "honest",
    ),
    Cheat("validation-shrunk", "data", (at(CHECKED, "os.environ['NANOGPT_VAL_TOKENS'] = '4096'"),), "honest"),
    # --- the model the harness evaluates ---------------------------------------------------
    Cheat(
        "looks-ahead",
        "evaluation",
        ((FORWARD, f"        logits = self.table(idx) + {LOOK_AHEAD}\n"),),
        "refused:looks ahead",
    ),
    Cheat(
        "looks-ahead-after-the-first-batch",
        "evaluation",
        (
            at(
                FORWARD,
                f"""
                self.calls = getattr(self, 'calls', 0) + 1
                if self.calls > 1:
                    logits = logits + {LOOK_AHEAD}
                """,
                8,
            ),
        ),
        "refused:looks ahead",
    ),
    Cheat(
        "adapts-to-validation-text",
        "evaluation",
        (
            at(
                FORWARD,
                """
                self.seen = getattr(self, 'seen', torch.zeros(512)) + torch.bincount(idx.flatten(), minlength=512)
                logits = logits + torch.log1p(self.seen)
                """,
                8,
            ),
        ),
        "refused:keeps state",
    ),
    Cheat(
        "memorises-answers",
        "evaluation",
        (
            at(
                FORWARD,
                f"""
                self.memo = getattr(self, 'memo', {{}})
                logits = self.memo.setdefault(hash(idx.numpy().tobytes()), logits + {LOOK_AHEAD})
                """,
                8,
            ),
        ),
        "refused:looks ahead",
    ),
    Cheat(
        "non-finite-logits",
        "evaluation",
        ((LOGITS, "            return logits * float('inf')\n"),),
        "refused:not finite",
    ),
    Cheat(
        "fewer-classes", "evaluation", ((LOGITS, "            return logits[..., :64]\n"),), "refused:logits over 64"
    ),
    Cheat("trains-while-loading", "evaluation", (at(LOAD, f"import time\ntime.sleep({MOVED_WORK_S})"),), "costly"),
    Cheat(
        "writes-into-the-answer-stream",
        "evaluation",
        (
            at(
                LOAD,
                """
                for _fd in range(3, 64):
                    try:
                        os.write(_fd, bytes(12))
                    except OSError:
                        pass
                """,
            ),
        ),
        "failed",
    ),
    # --- the seed -------------------------------------------------------------------------
    Cheat("fixed-seed", "seed", ((SEED, "    torch.manual_seed(0)\n"),), "invalid"),
    # --- record.toml: never trusted for what the harness decides ---------------------------
    Cheat(
        "own-target",
        "record",
        (("STEPS = 30", "STEPS = 1"),),
        "invalid",
        toml=(("target_val_loss = 6.0", "target_val_loss = 99.0"),),
    ),
    Cheat("own-entry", "record", (), "honest", toml=(('entry = "train_gpt.py"', 'entry = "missing.py"'),)),
    Cheat(
        "own-launch-settings",
        "record",
        (),
        "honest",
        toml=(("nproc = 1", "nproc = 64"), ('launcher = "python"', 'launcher = "torchrun"')),
    ),
    # --- the sandbox ---------------------------------------------------------------------------
    Cheat(
        "reads-the-records",
        "sandbox",
        (
            at(
                MAIN,
                """
                import glob as _g
                for _top in ('/work', '/tmp', '/root'):
                    for _p in _g.glob(f'{_top}/**/records.git/HEAD', recursive=True)[:1]:
                        print('ESCAPED records at', _p)
                """,
            ),
        ),
        "honest",
    ),
    Cheat("prints-the-environment", "sandbox", (at(MAIN, "print(dict(os.environ))"),), "honest"),
    Cheat(
        "remounts-read-write",
        "sandbox",
        (
            at(
                MAIN,
                """
                import subprocess as _s
                _s.run(['mount', '-o', 'remount,rw', '/'], capture_output=True)
                _s.run(['mount', '-o', 'remount,bind,rw', '/usr'], capture_output=True)
                _s.run(['unshare', '-rm', 'mount', '-o', 'remount,bind,rw', '/usr'], capture_output=True)
                for _target in ('/usr/speedrun-escape', '/speedrun-escape', '../speedrun-escape'):
                    try:
                        open(_target, 'w').write('x')
                        print('ESCAPED write to', _target)
                    except OSError:
                        pass
                """,
            ),
        ),
        "honest",
    ),
    Cheat(
        "leaves-a-daemon",
        "sandbox",
        (
            at(
                MAIN,
                f"import subprocess as _s\n_s.Popen(['sh', '-c', 'sleep 300 # {DAEMON_MARK}'], start_new_session=True)",
            ),
        ),
        "honest",
    ),
    Cheat(
        "fork-bomb",
        "sandbox",
        (
            at(
                MAIN,
                """
                import subprocess as _s
                _kids = []
                try:
                    for _ in range(20000):
                        _kids.append(_s.Popen(['sleep', '30']))
                except OSError:
                    pass
                for _k in _kids:
                    _k.kill()
                    _k.wait()
                """,
            ),
        ),
        "honest",
    ),
    Cheat(
        "poisons-the-cache",
        "sandbox",
        (
            at(
                MAIN,
                """
                import glob as _g
                for _top in ('/work', '/tmp'):
                    for _d in _g.glob(f'{_top}/**/runs/cache', recursive=True):
                        try:
                            open(_d + '/poison', 'w').write('x')
                            print('ESCAPED cache at', _d)
                        except OSError:
                            pass
                """,
            ),
        ),
        "honest",
    ),
    Cheat(
        "leaves-a-note-for-later-runs",
        "sandbox",
        (
            at(
                MAIN,
                """
                for _d in ('/dev/shm', '/tmp', os.path.expanduser('~')):
                    try:
                        open(_d + '/speedrun-adversarial-note', 'w').write('x')
                    except OSError:
                        pass
                """,
            ),
        ),
        "honest",
    ),
    Cheat(
        "reads-a-note-of-earlier-runs",
        "sandbox",
        (
            at(
                MAIN,
                """
                for _d in ('/dev/shm', '/tmp', os.path.expanduser('~')):
                    if os.path.exists(_d + '/speedrun-adversarial-note'):
                        print('ESCAPED shared note in', _d)
                """,
            ),
        ),
        "honest",
    ),
    Cheat(
        "slows-the-harness",
        "sandbox",
        (
            at(
                MAIN,
                """
                for _pid in filter(str.isdigit, os.listdir('/proc')):
                    try:
                        _cmd = open(f'/proc/{_pid}/cmdline', 'rb').read()
                        if int(_pid) != os.getpid() and (b'pytest' in _cmd or b'speedrun' in _cmd):
                            os.setpriority(os.PRIO_PROCESS, int(_pid), 19)
                            print('ESCAPED reniced', _pid)
                    except OSError:
                        pass
                """,
            ),
        ),
        "honest",
    ),
    Cheat("floods-the-log", "sandbox", (at(MAIN, "while True:\n    print('x' * 65536)"),), "failed"),
    Cheat(
        "phones-home",
        "sandbox",
        (
            at(
                MAIN,
                """
                import socket as _so
                try:
                    _so.create_connection(('1.1.1.1', 80), timeout=3)
                    print('ESCAPED network')
                except OSError:
                    pass
                """,
            ),
        ),
        "honest",
    ),
]
