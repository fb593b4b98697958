"""A harness-measured test track: bigram models trained for a few steps on the mini corpus.

Small enough to train in about a second, yet a real harness-measured record: it reads only
``NANOGPT_TRAIN_FILES``, saves its model to ``SPEEDRUN_MODEL_OUT`` and defines ``load_model``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from replay.records.add import add_record, init_records_repo
from replay.records.store import RecordsStore, materialize
from replay.records.workrepo import commit_folder, create_branch, open_work_repo

from toyrecords import record_toml

# A bigram model trained for a few steps on the mini corpus: small enough to train in a second.
BIGRAM = textwrap.dedent('''
    """A bigram record of the harness-measured protocol."""
    import glob, os
    import numpy as np
    import torch
    import torch.nn.functional as F

    STEPS = {steps}


    class Bigram(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Embedding(512, 512)

        def forward(self, idx, targets=None):
            logits = self.table(idx)
            if targets is None:
                return logits
            return F.cross_entropy(logits.view(-1, 512), targets.view(-1))


    def build_model():
        return Bigram()


    def load_model(path):
        model = build_model()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model


    def main():
        assert "NANOGPT_VAL_FILES" not in os.environ and "NANOGPT_VAL_TOKENS" not in os.environ
        files = sorted(glob.glob(os.environ["NANOGPT_TRAIN_FILES"]))
        tokens = np.fromfile(files[0], dtype="<u2", offset=1024)[: 64 * 65 * STEPS + 1].astype(np.int64)
        torch.manual_seed(int(os.environ.get("SPEEDRUN_SEED", "0")))
        model = build_model()
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        for step in range(STEPS):
            buf = torch.from_numpy(tokens[step * 64 * 64 : (step + 1) * 64 * 64 + 1])
            loss = model(buf[:-1].view(64, 64), buf[1:].view(64, 64))
            loss.backward()
            opt.step()
            opt.zero_grad()
            print(f"step:{{step + 1}}/{{STEPS}} train_loss:{{loss.item():.4f}} train_time:{{step + 1}}ms", flush=True)
        torch.save(model.state_dict(), os.environ["SPEEDRUN_MODEL_OUT"])


    if __name__ == "__main__":
        main()
''')


def bigram(steps: int = 30) -> str:
    """The script of a bigram record that trains ``steps`` steps."""
    return BIGRAM.format(steps=steps)


def harness_track(home: Path, track: str = "bigram") -> RecordsStore:
    """A records repository under ``home`` with two harness-measured bigram records (30, 20 steps)."""
    store = init_records_repo(home / "records.git")
    for index, steps in ((1, 30), (2, 20)):
        folder = home / f"src{index}"
        (folder / "hints").mkdir(parents=True)
        (folder / "train_gpt.py").write_text(bigram(steps))
        toml = record_toml(track, index, time_s=3.0, val_loss=5.0, steps=steps).replace(
            "target_val_loss = 3.28", 'target_val_loss = 6.0\ndata = "mini-v1"\nmeasure = "harness"'
        )
        (folder / "record.toml").write_text(toml)
        for level in (1, 2, 3):
            (folder / "hints" / f"level{level}.md").write_text("hint\n")
        add_record(store, track, folder)
    return RecordsStore(home / "records.git")


def branch(store: RecordsStore, home: Path, name: str, old: str, new: str) -> None:
    """A branch from bigram record 1 whose script has ``old`` replaced by ``new``."""
    record = store.record("bigram", 1)
    folder = home / name
    materialize(store.repo, record.tree_id, folder)
    script = (folder / "train_gpt.py").read_text()
    assert old in script
    (folder / "train_gpt.py").write_text(script.replace(old, new))
    work = open_work_repo(store.path)
    create_branch(work, name, record.commit_id)
    commit_folder(work, name, folder, name)
