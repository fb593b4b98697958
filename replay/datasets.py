"""Datasets a record can name in ``record.toml`` (``data = ...``), and how a run finds them.

The harness prepares data outside the script and passes its location through the
environment variables the benchmark's scripts read (``NANOGPT_TRAIN_FILES`` and
``NANOGPT_VAL_FILES`` as globs, ``NANOGPT_VAL_TOKENS``), so no script is edited.
"""

from __future__ import annotations

from replay import corpus, paths
from replay.errors import SpeedrunError


def prepare(name: str | None) -> dict[str, str]:
    """Make dataset ``name`` available; return the environment variables that point to it."""
    if name is None:
        return {}
    if name == corpus.CORPUS_NAME:
        folder = corpus.ensure_mini_corpus(paths.data_dir())
        return {
            "NANOGPT_TRAIN_FILES": str(folder / "mini_train_*.bin"),
            "NANOGPT_VAL_FILES": str(folder / "mini_val_*.bin"),
            "NANOGPT_VAL_TOKENS": str(corpus.VAL_TOKENS),
        }
    raise SpeedrunError(f"unknown dataset '{name}' (known: {corpus.CORPUS_NAME})")
