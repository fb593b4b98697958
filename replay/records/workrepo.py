"""The work repository (``runs/work.git``): where agent branches and other non-record code live.

It is a bare repository that borrows every object of ``records.git`` through git alternates,
so a branch can start from any record commit without copying it, while ``records.git`` itself
is never written to.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import pygit2

from replay import paths
from replay.errors import SpeedrunError
from replay.records.add import tree_from_folder


def open_work_repo(records: Path | None = None, path: Path | None = None) -> pygit2.Repository:
    """Open (creating if needed) the work repository and point its alternates at records.git."""
    path = Path(path or paths.work_repo())
    records = Path(records or paths.records_repo()).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Processes that start at once on a fresh home (a sweep's cells) must not both create it.
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / "HEAD").exists():
            pygit2.init_repository(str(path), bare=True)
        alternates = path / "objects" / "info" / "alternates"
        wanted = f"{records / 'objects'}\n"
        # Rewritten when the project moved (e.g. a fresh clone reusing an old SPEEDRUN_HOME).
        if not alternates.exists() or alternates.read_text() != wanted:
            alternates.parent.mkdir(parents=True, exist_ok=True)
            alternates.write_text(wanted)
    return pygit2.Repository(str(path))


def existing_work_repo(records: Path | None = None) -> pygit2.Repository | None:
    """The work repository if it exists (for readers, which must not create it), else ``None``."""
    return open_work_repo(records) if (paths.work_repo() / "HEAD").exists() else None


def resolve_branch(repo: pygit2.Repository, name: str) -> pygit2.Commit:
    """The commit a work-repo branch (or full ref, or commit id) points to."""
    for candidate in (f"refs/heads/{name}", name):
        try:
            return repo.lookup_reference(candidate).peel(pygit2.Commit)
        except (KeyError, pygit2.InvalidSpecError, ValueError):
            pass
        except pygit2.GitError as exc:  # the ref exists but cannot be read
            raise SpeedrunError(f"branch '{name}' of the work repository {repo.path} is damaged ({exc})") from None
    try:
        return repo.revparse_single(name).peel(pygit2.Commit)
    except (KeyError, pygit2.GitError, ValueError):
        pass
    known = ", ".join(sorted(repo.branches.local)) or "none"
    raise SpeedrunError(f"no branch '{name}' in the work repository {repo.path} (branches: {known})")


def create_branch(repo: pygit2.Repository, name: str, commit_id: str) -> None:
    """Create a work-repo branch at ``commit_id`` (fails if it exists)."""
    if name in repo.branches.local:
        raise SpeedrunError(f"branch '{name}' already exists in the work repository")
    repo.branches.local.create(name, repo[commit_id].peel(pygit2.Commit))


def commit_folder(repo: pygit2.Repository, branch: str, folder: Path, message: str) -> str:
    """Commit the files of ``folder`` as the next commit of ``branch``; return its id."""
    parent = resolve_branch(repo, branch)
    tree_id = tree_from_folder(repo, Path(folder))
    sig = pygit2.Signature("speedrun", "speedrun@localhost")
    return str(repo.create_commit(f"refs/heads/{branch}", sig, sig, message, tree_id, [parent.id]))
