"""``speedrun data fineweb``: download the real speedrun's FineWeb GPT-2 token shards.

The speedrun trains on FineWeb-10B tokenised with GPT-2 and published as ``.bin`` shards
(``fineweb_val_000000.bin`` and ``fineweb_train_000001.bin`` ...; 100M tokens, about 200 MB
each) on the Hugging Face Hub. This needs network access, so it runs on the machine that has
it; copy the folder to GPU nodes that do not (``SPEEDRUN_FINEWEB`` points replays at it).
Each file is downloaded to a temporary name, its header checked, then renamed, so an
interrupted download never leaves a shard that looks complete; valid shards are skipped.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

from replay.data.shards import ShardError, read_header
from replay.errors import SpeedrunError

BASE_URL = "https://huggingface.co/datasets/kjj0/fineweb10B-gpt2/resolve/main"
MAX_TRAIN_SHARDS = 103


def shard_names(train_shards: int) -> list[str]:
    """The validation shard and the first ``train_shards`` training shards."""
    return ["fineweb_val_000000.bin"] + [f"fineweb_train_{i:06d}.bin" for i in range(1, train_shards + 1)]


def download(out: Path, train_shards: int, base_url: str | None = None, echo=print) -> list[Path]:
    """Fetch the shards into ``out`` (skipping valid ones); return their paths."""
    if not 1 <= train_shards <= MAX_TRAIN_SHARDS:
        raise SpeedrunError(f"--shards must be between 1 and {MAX_TRAIN_SHARDS}, got {train_shards}")
    base_url = (base_url or os.environ.get("SPEEDRUN_FINEWEB_URL") or BASE_URL).rstrip("/")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in shard_names(train_shards):
        path = out / name
        paths.append(path)
        if _valid(path):
            echo(f"have {path}")
            continue
        partial = path.with_name(name + ".part")
        echo(f"fetch {base_url}/{name}")
        try:
            with urllib.request.urlopen(f"{base_url}/{name}", timeout=60) as response, open(partial, "wb") as sink:
                shutil.copyfileobj(response, sink, length=1 << 22)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise SpeedrunError(f"downloading {name} from {base_url} failed ({exc}); check network access") from None
        if not _valid(partial):
            partial.unlink(missing_ok=True)
            raise SpeedrunError(f"{base_url}/{name} is not a token shard (bad header or truncated)")
        partial.rename(path)
    return paths


def _valid(path: Path) -> bool:
    """A complete shard."""
    if not path.is_file():
        return False
    try:
        read_header(path)  # checks magic, version and that the size matches the token count
    except (ShardError, OSError):
        return False
    return True
