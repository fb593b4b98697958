"""Build a small fake modded-nanogpt checkout for the importer tests.

It has what the real repository has, in miniature: a root ``train_gpt2.py`` + ``run.sh``
history for the first three records, then a README record table (data rows not starting with
``|``) whose log links cover every real variant: an llm.c-format log, a row without a log, a
log with and one without a leading separator, appended ``triton_kernels.py``, a folder of
several runs (one of other code), a record whose code equals its parent's, a re-timing row,
and a row with only a PR link.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SEP = "=" * 100
DASHES = "-" * 40


def script(version: int, extra: str = "") -> str:
    """A toy training script; each version changes something the AST diff can see."""
    return f"""import os

class Hyperparameters:
    input_val_bin = "data/fineweb10B/fineweb_val_*.bin"
    val_tokens = 10485760
    num_iterations = {1000 - 10 * version}
    learning_rate = {0.001 * version:.4f}

def evaluate(model):
    return 3.0

def block_{version}(x):
    return x * {version}
{extra}
training_time_ms = 0
"""


def log(
    code: str,
    val_loss: float,
    steps: int,
    leading_separator: bool,
    extras: dict[str, str] | None = None,
    torch: str = "2.5.0+cu124",
    python: str | None = "3.12",
) -> str:
    """A speedrun log carrying ``code`` (and appended files), versions and step lines."""
    parts = [SEP] if leading_separator else []
    parts.append(code.rstrip("\n"))
    for name, source in (extras or {}).items():
        parts += ["", DASHES, f"# {name}", DASHES, source.rstrip("\n")]
    parts.append(SEP)
    if python:
        parts.append(f"Running Python {python}.1 (main) [GCC]")
    parts += [f"Running PyTorch {torch} compiled for CUDA 12.4", "nvidia-smi output", SEP]
    parts += [
        f"step:0/{steps} val_loss:10.8000 train_time:0ms step_avg:nanms",
        f"step:1/{steps} train_time:100ms step_avg:100.00ms",
        f"step:{steps}/{steps} val_loss:{val_loss:.4f} train_time:{steps * 100}ms step_avg:100.00ms",
        "peak memory consumption: 1000 MiB",
    ]
    return "\n".join(parts) + "\n"


TABLE_HEADER = "| # | Record time | Description | Date | Log | Contributors |\n| - | - | - | - | - | - |"
KERNELS = "import torch\n\ndef fused_kernel(x):\n    return x\n"


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def run_sh(iterations: int) -> str:
    return (
        "# toy launcher\n"
        "torchrun --standalone --nproc_per_node=8 train_gpt2.py \\\n"
        '    --input_bin "data/fineweb10B/fineweb_train_*.bin" \\\n'
        f"    --num_iterations {iterations}\n"
    )


def build_checkout(root: Path, extra_rows: str = "") -> tuple[Path, dict[int, str]]:
    """Create the checkout; return its path and the root-script commits of records 1-3."""
    repo = root / "modded-nanogpt"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "master")
    commits = {}
    for number in (1, 2, 3):
        (repo / "train_gpt2.py").write_text(script(number))
        (repo / "run.sh").write_text(run_sh(1000 * number))
        commits[number] = commit_all(repo, f"record {number}")[:8]
    records = repo / "records"
    (records / "llmc").mkdir(parents=True)
    (records / "llmc" / "main.log").write_text("s:0 tel:11.0\ns:0 trl:11.0\ns:500 tel:3.2799\n")
    (records / "adamw").mkdir()
    (records / "adamw" / "x.log").write_text("s:0 tel:11.0\ns:400 tel:3.2603\n")
    (records / "r4").mkdir()
    (records / "r4" / "a.txt").write_text(
        log(script(4), 3.2771, 900, leading_separator=True, python=None, torch="2.4.1+cu121")
    )
    (records / "r5").mkdir()
    (records / "r5" / "b.txt").write_text(
        log(script(5), 3.2762, 800, leading_separator=False, extras={"triton_kernels.py": KERNELS})
    )
    (records / "r5" / "retime.txt").write_text(
        log(script(5), 3.2790, 800, leading_separator=False, extras={"triton_kernels.py": KERNELS})
    )
    runs = records / "r6" / "runs"
    runs.mkdir(parents=True)
    (runs / "1.txt").write_text(log(script(6), 3.2750, 700, leading_separator=False))
    (runs / "2.txt").write_text(log(script(6), 3.2770, 700, leading_separator=False))
    (runs / "3.txt").write_text(log(script(99), 3.3000, 700, leading_separator=False))  # an experiment, other code
    (records / "r7").mkdir()
    (records / "r7" / "c.txt").write_text(log(script(6), 3.2765, 700, leading_separator=False, torch="2.6.0+cu124"))
    (records / "r8").mkdir()
    (records / "r8" / "d.txt").write_text(log(script(8), 3.2755, 650, leading_separator=False))
    (records / "r10").mkdir()
    (records / "r10" / "e.txt").write_text(log(script(10), 3.2745, 600, leading_separator=False))
    rows = "\n".join(
        [
            "1 | 45 minutes | [baseline](https://example.com/1) | 05/28/24 | [log](records/llmc/main.log) | @a, "
            "contributors",
            "2 | 31.4 minutes | [Rotary](https://example.com/2) | 06/06/24 | [log](records/adamw/x.log) | @b",
            "3 | 24.9 minutes | [First Muon](https://example.com/3) | 10/04/24 | none | @b, @c",
            "4 | 22.3 minutes | [Muon improvements](https://example.com/4) | 10/11/24 | [log](records/r4/a.txt) | @b",
            "5 | 15.2 minutes | [Kernels](https://example.com/5) | 10/14/24 | [log](records/r5/b.txt) | @d",
            "6 | 13.1 minutes | [Runs in a folder](https://example.com/6) | 10/18/24 | [log](records/r6) | @b",
            "7 | 12.0 minutes | [Upgrade PyTorch](https://example.com/7) | 10/18/24 | [log](records/r7/c.txt) | @b",
            "5 | 15.0 minutes | re-timing of 5 | 10/20/24 | [log](records/r5/retime.txt) | not a new record",
            "8 | 10.8 minutes | Plain description | 11/03/24 | "
            "[log](records/r8/d.txt),[PR](https://example.com/pr8) | @e",
            "9 | 10.0 minutes | Only a PR | 11/04/24 | [PR](https://example.com/pr9) | @f",
            "10 | 9.5 minutes | [Tenth](https://example.com/10) | 11/05/24 | [log](records/r10/e.txt) | @g",
        ]
    )
    (repo / "README.md").write_text(
        f"# toy speedrun\n\n## World record history\n\n{TABLE_HEADER}\n{rows}\n{extra_rows}\n## Rules\n"
    )
    commit_all(repo, "records")
    return repo, commits
