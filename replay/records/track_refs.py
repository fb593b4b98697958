"""Rewriting a track's history and moving its references onto it, all at once.

Tools that rewrite a track's commits (``records renumber``, ``bench/restate.py``,
``bench/within_noise.py``) point its tags and branch at the new commits and keep the old tip under
a ref of their own, so that nothing made from the old commits loses its objects. They do it in
one reference transaction: the track moves whole or not at all.
"""

from __future__ import annotations

from collections.abc import Callable

import pygit2

from replay.paths import RECORD_TOML
from replay.records.schema import parse_record_toml
from replay.records.store import Record, RecordsStore, tag_name


def move_track(
    repo: pygit2.Repository,
    track: str,
    tags: dict[str, str],
    keep_old_tip_at: str,
    reason: str,
    drop: tuple[str, ...] = (),
) -> None:
    """Point ``tags`` (tag name -> commit id) at rewritten commits, the branch at the last of them,
    keep the branch's old tip at the ref ``keep_old_tip_at`` and remove the tags named in ``drop``."""
    branch = f"refs/heads/{track}"
    old_tip = str(repo.references[branch].target)
    moves = [(f"refs/tags/{tag}", commit) for tag, commit in tags.items()]
    moves += [(branch, list(tags.values())[-1]), (keep_old_tip_at, old_tip)]
    with repo.transaction() as txn:
        for ref, target in moves:
            txn.lock_ref(ref)
            txn.set_target(ref, pygit2.Oid(hex=target), message=reason)
        for tag in sorted(drop):
            txn.lock_ref(f"refs/tags/{tag}")
            txn.remove(f"refs/tags/{tag}")


def rewrite_track(
    store: RecordsStore,
    track: str,
    files_of: Callable[[Record], dict[str, str]],
    keep_old_tip_at: str,
    reason: str,
    drop_prefix: str | None = None,
) -> str:
    """Rewrite every record of ``track`` with the
    files ``files_of(record)`` gives (path -> text; under ``drop_prefix`` only those survive), keeping
    each commit's message, author and order; move the track and return its new tip. A rewritten
    ``record.toml`` that does not parse stops everything before a reference moves."""
    repo = store.repo
    parent_ids: list = []
    tags = {}
    for record in store.records(track):
        commit = repo[record.commit_id]
        if not parent_ids and commit.parents:
            parent_ids = [commit.parents[0].id]  # whatever the track grew from stays its root
        files = files_of(record)
        if RECORD_TOML in files:
            parse_record_toml(files[RECORD_TOML], where=f"{record.label}'s rewritten {RECORD_TOML}")
        tree = _tree_with(repo, commit.tree, files, drop_prefix)
        parent_ids = [repo.create_commit(None, commit.author, commit.committer, commit.message, tree, parent_ids)]
        tags[tag_name(track, record.index)] = str(parent_ids[0])
    move_track(repo, track, tags, keep_old_tip_at, reason)
    store.forget(track)
    return str(parent_ids[0])


def _tree_with(repo: pygit2.Repository, tree: pygit2.Tree, files: dict[str, str], drop_prefix: str | None):
    """``tree`` without its files under ``drop_prefix``, with ``files`` (path -> text) written in."""
    index = pygit2.Index()
    index.read_tree(tree)
    for entry in list(index):
        if drop_prefix and entry.path.startswith(drop_prefix):
            index.remove(entry.path)
    for path, text in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(text.encode()), pygit2.GIT_FILEMODE_BLOB))
    return index.write_tree(repo)
