"""Where scripts come from: records (``mini/2``), work-repo branches, commit ids, or files.

Every function returns ``(label, text)`` or raises :class:`~replay.errors.SpeedrunError` with one
clear line. A commit's script is its ``record.toml``'s entry if it has one, else the given
default entry, else its only top-level ``.py`` file.
"""

from __future__ import annotations

import re
from pathlib import Path

from replay import paths
from replay.errors import SpeedrunError
from replay.records.schema import RecordError, parse_record_toml

DEFAULT_ENTRY = "train_gpt.py"


def record_script(store, record) -> tuple[str, str]:
    return record.label, store.read_file(record, record.meta.entry).decode()


def file_script(path: str | Path) -> tuple[str, str]:
    path = Path(path)
    if not path.is_file():
        raise SpeedrunError(f"no file {path}")
    try:
        return str(path), path.read_text()
    except UnicodeDecodeError:
        raise SpeedrunError(f"{path} is not a UTF-8 text file") from None


def commit_script(repo, commit, entry: str | None, label: str) -> tuple[str, str]:
    import pygit2

    tree = commit.tree
    names = []
    if paths.RECORD_TOML in tree:
        try:
            names.append(parse_record_toml(tree[paths.RECORD_TOML].data.decode()).entry)
        except (RecordError, UnicodeDecodeError):
            pass  # a candidate's broken metadata does not hide its script: fall back below
    names += [entry, DEFAULT_ENTRY]
    for name in names:
        if name and name in tree and isinstance(tree[name], pygit2.Blob):
            return label, tree[name].data.decode()
    py = [e.name for e in tree if e.name.endswith(".py") and e.type_str == "blob"]
    if len(py) == 1:
        return label, tree[py[0]].data.decode()
    raise SpeedrunError(f"{label}: no entry script found (looked for {', '.join(n for n in names if n)})")


def work_repo_commit(spec: str, what: str):
    """A commit of the work repository (which also sees every records.git object)."""
    import pygit2

    from replay.records.store import RecordsStore
    from replay.records.workrepo import existing_work_repo, resolve_branch

    repo = existing_work_repo()
    if what == "commit":
        # Commit ids resolve in the work repo (it borrows records.git's objects); tags such as
        # mini/r02 live in records.git itself.
        for candidate in [r for r in (repo, RecordsStore().repo) if r is not None]:
            try:
                return candidate, candidate.revparse_single(spec).peel(pygit2.Commit)
            except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
                continue
        raise SpeedrunError(f"no commit '{spec}' in the work repository or records.git")
    if repo is None:
        raise SpeedrunError(f"no branch '{spec}': there is no work repository at {paths.work_repo()} yet")
    return repo, resolve_branch(repo, spec)


def resolve_any(spec: str, store=None) -> tuple[str, str]:
    """A record ``TRACK/N``, a file path, a work-repo branch, or a commit id."""
    if Path(spec).is_file():
        return file_script(spec)
    if re.fullmatch(r"[\w.-]+/r?\d+", spec):
        if store is None:
            from replay.records.store import RecordsStore

            store = RecordsStore()
        if spec.partition("/")[0] in store.tracks():
            return record_script(store, store.resolve(spec))
    try:
        repo, commit = work_repo_commit(spec, "branch")
    except SpeedrunError:
        if not re.fullmatch(r"[0-9a-fA-F]{4,40}", spec):
            raise SpeedrunError(f"'{spec}' is not a file, a record (TRACK/N), a work-repo branch or a commit") from None
        repo, commit = work_repo_commit(spec, "commit")
    return commit_script(repo, commit, None, f"{spec} ({str(commit.id)[:10]})")
