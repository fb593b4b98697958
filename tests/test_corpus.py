"""The mini-v1 corpus is a pure function of its seed: same bytes every time, valid shards,
token ids inside the vocabulary, and every document starting right after an EOT token.

The mini track's record times are only comparable if every machine trains and validates on
exactly the same tokens, so the generator must be deterministic and its output well-formed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from replay.data import corpus
from replay.data.shards import read_header, read_shard

SMALL = dict(n_train_tokens=40_000, n_val_tokens=9_000, shard_tokens=16_384)


def _files(out):
    return sorted(p.name for p in out.iterdir())


def test_generate_is_deterministic(tmp_path):
    a = corpus.generate(tmp_path / "a", seed=7, **SMALL)
    b = corpus.generate(tmp_path / "b", seed=7, **SMALL)
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()
    c = corpus.generate(tmp_path / "c", seed=8, **SMALL)
    assert c[0].read_bytes() != a[0].read_bytes()


def test_shards_are_valid(tmp_path):
    out = tmp_path / "mini"
    corpus.generate(out, seed=1, **SMALL)
    assert _files(out) == [
        "mini_train_000000.bin",
        "mini_train_000001.bin",
        "mini_train_000002.bin",
        "mini_val_000000.bin",
    ]
    counts = [read_header(out / f) for f in _files(out)]
    assert counts == [16_384, 16_384, 40_000 - 2 * 16_384, 9_000]


def test_tokens_and_document_boundaries(tmp_path):
    out = tmp_path / "mini"
    corpus.generate(out, seed=3, **SMALL)
    train = np.concatenate([read_shard(p) for p in sorted(out.glob("mini_train_*.bin"))])
    val = read_shard(out / "mini_val_000000.bin")
    for stream in (train, val):
        assert stream.max() < corpus.VOCAB_SIZE
        assert stream[0] == corpus.EOT_TOKEN  # the first document starts after an EOT
        eots = np.flatnonzero(stream == corpus.EOT_TOKEN)
        assert len(eots) >= 5
        lengths = np.diff(eots) - 1
        assert lengths.min() >= corpus.DOC_MIN  # no empty or truncated-away documents
        # markers are followed by a content key and two content values
        for marker in (corpus.DEF_TOKEN, corpus.REF_TOKEN):
            at = np.flatnonzero(stream[:-3] == marker)
            assert len(at) > 0
            for k in range(1, 4):
                assert (stream[at + k] >= corpus.FIRST_CONTENT).all()
    # a recalled key-value triple was defined earlier in the same document
    doc = train[1 : np.flatnonzero(train == corpus.EOT_TOKEN)[1]]
    refs = np.flatnonzero(doc == corpus.REF_TOKEN)
    defs = {tuple(doc[i + 1 : i + 4]) for i in np.flatnonzero(doc == corpus.DEF_TOKEN)}
    for i in refs:
        assert tuple(doc[i + 1 : i + 4]) in defs


def test_public_constants():
    assert corpus.CORPUS_NAME == "mini-v1"
    assert corpus.VOCAB_SIZE == 512
    assert 0 <= corpus.EOT_TOKEN < corpus.VOCAB_SIZE
    assert corpus.VAL_TOKENS <= corpus.VAL_SHARD_TOKENS - 1
    assert corpus.VAL_TOKENS % (16 * 256) == 0


def test_ensure_mini_corpus_is_idempotent(tmp_path, monkeypatch):
    full_size = corpus.generate
    monkeypatch.setattr(
        corpus, "generate", lambda out: full_size(out, n_train_tokens=20_000, n_val_tokens=9_000, shard_tokens=20_000)
    )
    d = corpus.ensure_mini_corpus(tmp_path)
    assert d == tmp_path / "mini-v1"
    assert _files(d) == ["mini_train_000000.bin", "mini_val_000000.bin"]
    stamp = (d / "mini_val_000000.bin").stat().st_mtime_ns
    assert corpus.ensure_mini_corpus(tmp_path) == d
    assert (d / "mini_val_000000.bin").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["mini-v1"]  # no temp dir left behind


def test_synthetic_fineweb_shards_have_fineweb_names_and_separator(tmp_path):
    """`speedrun data synthetic` poses the same text as FineWeb: its file names, separator 50256."""
    import subprocess
    import sys

    out = tmp_path / "fineweb10B"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "speedrun"),
            "data",
            "synthetic",
            "--out",
            str(out),
            "--train-tokens",
            "30000",
            "--val-tokens",
            "5000",
            "--shard-tokens",
            "10000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "fineweb_train_000001.bin",
        "fineweb_train_000002.bin",
        "fineweb_train_000003.bin",
        "fineweb_val_000000.bin",
    ]
    val = read_shard(out / "fineweb_val_000000.bin")
    assert len(val) == 5000 and val[0] == 50256 and (val == 50256).sum() >= 2
    assert not (val == 0).any(), "the mini separator must be fully replaced"
    assert val.max() <= 50256
