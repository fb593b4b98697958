"""Moving a track's references onto its rewritten history, all at once.

Tools that rewrite a track's commits (``records renumber``, ``bench/restate.py``) point its tags
and branch at the new commits and keep the old tip under a ref of their own, so that nothing
made from the old commits loses its objects. They do it in one reference transaction: the
track moves whole or not at all.
"""

from __future__ import annotations

import pygit2


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
