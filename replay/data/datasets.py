"""Datasets a record can name in ``record.toml`` (``data = ...``), and how a run finds them.

The harness prepares data outside the script and never edits it. It passes the location
through the environment variables the benchmark's scripts read (``NANOGPT_TRAIN_FILES`` and
``NANOGPT_VAL_FILES`` as globs, ``NANOGPT_VAL_TOKENS``) and, for the real records, which read
``data/fineweb10B/fineweb_*.bin`` relative to their working directory, links that folder into
the run's working directory.

``fineweb10B`` lives in ``$SPEEDRUN_FINEWEB`` if set, else ``<data dir>/fineweb10B``: fill it
with ``speedrun data fineweb`` (the real shards) or ``speedrun data synthetic`` (smoke runs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from replay import paths
from replay.data import corpus
from replay.errors import SpeedrunError

FINEWEB = "fineweb10B"
FINEWEB_VAL_TOKENS = 10_485_760
KNOWN = (corpus.CORPUS_NAME, FINEWEB)


def fineweb_dir() -> Path:
    """Where the FineWeb shards are (or will be downloaded to)."""
    return Path(os.environ.get("SPEEDRUN_FINEWEB", paths.data_dir() / FINEWEB))


def prepare(name: str | None) -> dict[str, str]:
    """Make dataset ``name`` available; return the environment variables that point to it."""
    if name is None:
        return {}
    if name == corpus.CORPUS_NAME:
        folder = corpus.ensure_mini_corpus(paths.data_dir())
        return _variables(folder, "mini", corpus.VAL_TOKENS)
    if name == FINEWEB:
        folder = fineweb_dir()
        if not any(folder.glob("fineweb_val_*.bin")) or not any(folder.glob("fineweb_train_*.bin")):
            raise SpeedrunError(
                f"no FineWeb shards in {folder}: run `speedrun data fineweb --shards 8` (network) or "
                f"`speedrun data synthetic --out {folder}` (smoke runs), or set SPEEDRUN_FINEWEB"
            )
        return _variables(folder, "fineweb", FINEWEB_VAL_TOKENS)
    raise SpeedrunError(f"unknown dataset '{name}' (known: {', '.join(KNOWN)})")


@dataclass(frozen=True)
class Validation:
    """What the harness itself evaluates a dataset's models on (harness-measured records)."""

    files: tuple[Path, ...]  # validation shards, in order
    tokens: int  # the first this many tokens (+1 for the last target) are evaluated
    sequence_length: int
    batch: int
    vocab: int


def validation(name: str | None) -> Validation:
    """The harness's validation set of dataset ``name`` (prepared)."""
    if name != corpus.CORPUS_NAME:
        raise SpeedrunError(
            f"dataset '{name}' has no harness evaluation: its records must be measured by their scripts "
            '(measure = "script" in record.toml)'
        )
    folder = corpus.ensure_mini_corpus(paths.data_dir())
    return Validation(
        tuple(sorted(folder.glob("mini_val_*.bin"))),
        corpus.VAL_TOKENS,
        corpus.VAL_SEQUENCE_LENGTH,
        corpus.VAL_BATCH,
        corpus.VOCAB_SIZE,
    )


def training_only(env: dict[str, str]) -> dict[str, str]:
    """The variables of :func:`prepare` without those that point to validation data."""
    return {k: v for k, v in env.items() if k not in ("NANOGPT_VAL_FILES", "NANOGPT_VAL_TOKENS")}


def link_into(name: str | None, workdir: Path) -> None:
    """Give a run's working directory the relative data path its script expects."""
    if name == FINEWEB:
        link = Path(workdir) / "data" / FINEWEB
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(fineweb_dir().resolve(), target_is_directory=True)


def _variables(folder: Path, prefix: str, val_tokens: int) -> dict[str, str]:
    return {
        "NANOGPT_TRAIN_FILES": str(folder / f"{prefix}_train_*.bin"),
        "NANOGPT_VAL_FILES": str(folder / f"{prefix}_val_*.bin"),
        "NANOGPT_VAL_TOKENS": str(val_tokens),
    }
