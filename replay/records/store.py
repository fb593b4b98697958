"""The records store: a bare git repository whose commits are speedrun records.

Each track is a branch; each commit on its first-parent line is one record (index 1 is the
root commit) and carries a tag ``<track>/r<NN>``. Task *i* of a track is the pair
(record *i*, record *i+1*), unless record *i* says ``task = false`` (its successor changed
no code). Reading never writes to the repository; only :mod:`replay.records.add` does.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from pathlib import Path

import pygit2

from replay import paths
from replay.errors import SpeedrunError
from replay.records.schema import RecordMeta, parse_record_toml

_COMMIT_ID = re.compile(r"[0-9a-fA-F]{4,40}")


def tag_name(track: str, index: int) -> str:
    """The tag naming record ``index`` of ``track``."""
    return f"{track}/r{index:02d}"


@dataclass(frozen=True)
class Record:
    """One record: a commit on a track's first-parent line, with its parsed metadata."""

    track: str
    index: int
    commit_id: str
    tree_id: str
    meta: RecordMeta

    @property
    def label(self) -> str:
        return tag_name(self.track, self.index)


@dataclass(frozen=True)
class Task:
    """Reproduce the speedup from ``start`` to ``target`` (record i -> i+1)."""

    track: str
    number: int
    start: Record
    target: Record


class RecordsStore:
    """Read-only access to the records repository."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or paths.records_repo())
        try:
            self.repo = pygit2.Repository(str(self.path))
        except (pygit2.GitError, KeyError):
            raise SpeedrunError(
                f"records repository not found at {self.path}: clone the project or set SPEEDRUN_RECORDS"
            ) from None
        self._records: dict[str, list[Record]] = {}

    def tracks(self) -> list[str]:
        """Names of all tracks (local branches), sorted."""
        return sorted(self.repo.branches.local)

    def records(self, track: str) -> list[Record]:
        """The track's records, oldest first."""
        if track not in self._records:
            self._records[track] = self._load_track(track)
        return self._records[track]

    def forget(self, track: str) -> None:
        """Drop the cached record list of a track (after a record was added)."""
        self._records.pop(track, None)
        self.__dict__.pop("head_ids", None)

    def _load_track(self, track: str) -> list[Record]:
        branch = self.repo.branches.local.get(track)
        if branch is None:
            known = ", ".join(self.tracks()) or "none"
            raise SpeedrunError(f"unknown track '{track}' (known tracks: {known})")
        chain = []
        commit = branch.peel(pygit2.Commit)
        while True:
            chain.append(commit)
            if not commit.parents:
                break
            commit = commit.parents[0]
        records = []
        for position, commit in enumerate(reversed(chain), start=1):
            meta = self._read_meta(commit)
            if meta.index != position or meta.track != track:
                raise SpeedrunError(
                    f"records repository is inconsistent: commit {commit.id} at position {position} of track '{track}' "
                    f"says track '{meta.track}' index {meta.index}"
                )
            records.append(Record(track, position, str(commit.id), str(commit.tree_id), meta))
        return records

    def _read_meta(self, commit: pygit2.Commit) -> RecordMeta:
        try:
            blob = commit.tree[paths.RECORD_TOML]
        except KeyError:
            raise SpeedrunError(f"records repository: commit {commit.id} has no {paths.RECORD_TOML}") from None
        return parse_record_toml(blob.data.decode(), where=f"{commit.id}:{paths.RECORD_TOML}")

    def record(self, track: str, index: int) -> Record:
        """Record ``index`` (1-based) of ``track``."""
        records = self.records(track)
        if not 1 <= index <= len(records):
            raise SpeedrunError(f"track '{track}' has records 1-{len(records)}; there is no record {index}")
        return records[index - 1]

    def resolve(self, spec: str) -> Record:
        """The record that every command means by ``spec``: ``TRACK/N``, ``TRACK/rNN`` (its tag)
        or its commit id, full or abbreviated to at least 4 hex digits."""
        track, slash, number = spec.partition("/")
        number = number.removeprefix("r")
        if slash and track and number.isdigit():
            return self.record(track, int(number))
        if not slash and _COMMIT_ID.fullmatch(spec):
            return self._record_at_commit(spec.lower())
        raise SpeedrunError(
            f"'{spec}' is not a record name: use TRACK/N, TRACK/rNN or a record's commit id, e.g. mini/2"
        )

    def _record_at_commit(self, prefix: str) -> Record:
        found = [r for track in self.tracks() for r in self.records(track) if r.commit_id.startswith(prefix)]
        if len(found) > 1:
            raise SpeedrunError(
                f"commit id '{prefix}' is ambiguous: {', '.join(r.label for r in found)}; give more digits"
            )
        if not found:
            raise SpeedrunError(f"commit '{prefix}' is not a record of any track in {self.path}")
        return found[0]

    def tasks(self, track: str) -> list[Task]:
        """The track's tasks: consecutive records, skipping starts marked ``task = false``."""
        records = self.records(track)
        return [Task(track, start.index, start, target) for start, target in pairwise(records) if start.meta.task]

    def task(self, track: str, number: int) -> Task:
        """Task ``number`` of ``track``, with a clear error naming the valid numbers."""
        tasks = self.tasks(track)
        for task in tasks:
            if task.number == number:
                return task
        numbers = ", ".join(str(t.number) for t in tasks) or "none"
        raise SpeedrunError(f"track '{track}' has no task {number} (tasks: {numbers})")

    def read_file(self, record: Record, path: str) -> bytes:
        """The bytes of one file of a record."""
        try:
            obj = self.repo[record.tree_id] / path
        except KeyError:
            raise SpeedrunError(f"{record.label} has no file '{path}'") from None
        if not isinstance(obj, pygit2.Blob):
            raise SpeedrunError(f"{record.label}: '{path}' is a folder, not a file")
        return obj.data

    def files(self, record: Record) -> list[str]:
        """Paths of every file in a record, sorted."""
        return sorted(_walk_tree(self.repo[record.tree_id], ""))

    @cached_property
    def head_ids(self) -> dict[str, str]:
        """Tip commit id of each track (for cache keys and provenance)."""
        return {name: str(self.repo.branches.local[name].target) for name in self.tracks()}


def _walk_tree(tree: pygit2.Tree, prefix: str):
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.type_str == "tree":
            yield from _walk_tree(entry, path + "/")
        else:
            yield path


def materialize(repo: pygit2.Repository, tree_id: str, dest: Path) -> None:
    """Write the files of ``tree_id`` into ``dest`` (created; must not exist)."""
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for path in _walk_tree(repo[tree_id], ""):
        target = tmp / path
        target.parent.mkdir(parents=True, exist_ok=True)
        entry = repo[tree_id] / path
        target.write_bytes(entry.data)
        if entry.filemode == pygit2.enums.FileMode.BLOB_EXECUTABLE:
            target.chmod(0o755)
    tmp.rename(dest)
