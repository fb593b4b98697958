"""The records store: a bare git repository whose commits are speedrun records.

Each track is a branch; each commit on its first-parent line is one record and carries a tag
``<track>/r<NN>``. Indices rise along the line; they may skip a number, where the real
speedrun's README has a record whose code was never published (an imported record keeps its
README number). Task *i* of a track is the pair (record *i*, the next record), unless record *i*
says ``task = false`` (its successor changed no code); a task whose target is not record i+1
spans such a gap and says so. Reading never writes to the repository; only
:mod:`replay.records.add` and the importer (:mod:`replay.importer`) do.
"""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
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
    """Reproduce the speedup from ``start`` to ``target`` (record i -> the next record)."""

    track: str
    number: int
    start: Record
    target: Record

    @property
    def skipped(self) -> list[int]:
        """Record numbers between start and target that have no record (no published code)."""
        return list(range(self.start.index + 1, self.target.index))


def index_ranges(indices: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    spans: list[list[int]] = []
    for i in sorted(indices):
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


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
        with self._damage_is_an_error():
            return sorted(self.repo.branches.local)

    def records(self, track: str) -> list[Record]:
        """The track's records, oldest first."""
        if track not in self._records:
            with self._damage_is_an_error():
                self._records[track] = self._load_track(track)
        return self._records[track]

    @contextmanager
    def _damage_is_an_error(self):
        """Git errors while reading (a ref or object damaged or missing) are one clear line."""
        try:
            yield
        except (pygit2.GitError, KeyError, ValueError) as exc:
            raise SpeedrunError(
                f"records repository {self.path} is damaged ({exc or type(exc).__name__}): restore it "
                "(for the project's own, `git checkout -- records.git`)"
            ) from None

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
        records: list[Record] = []
        for commit in reversed(chain):
            meta = self._read_meta(commit)
            after = records[-1].index if records else 0
            if meta.index <= after or meta.track != track:
                raise SpeedrunError(
                    f"records repository is inconsistent: commit {commit.id} after record {after} of track '{track}' "
                    f"says track '{meta.track}' index {meta.index}"
                )
            records.append(Record(track, meta.index, str(commit.id), str(commit.tree_id), meta))
        return records

    def _read_meta(self, commit: pygit2.Commit) -> RecordMeta:
        try:
            blob = commit.tree[paths.RECORD_TOML]
        except KeyError:
            raise SpeedrunError(f"records repository: commit {commit.id} has no {paths.RECORD_TOML}") from None
        return parse_record_toml(blob.data.decode(), where=f"{commit.id}:{paths.RECORD_TOML}")

    def record(self, track: str, index: int) -> Record:
        """Record ``index`` of ``track``."""
        records = self.records(track)
        for record in records:
            if record.index == index:
                return record
        known = index_ranges([r.index for r in records])
        raise SpeedrunError(f"track '{track}' has records {known}; there is no record {index}")

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
        with self._damage_is_an_error():
            tree = self.repo[record.tree_id]
            if path not in tree:
                raise SpeedrunError(f"{record.label} has no file '{path}'")
            obj = tree / path
            if not isinstance(obj, pygit2.Blob):
                raise SpeedrunError(f"{record.label}: '{path}' is a folder, not a file")
            return obj.data

    def files(self, record: Record) -> list[str]:
        """Paths of every file in a record, sorted."""
        with self._damage_is_an_error():
            return sorted(_walk_tree(self.repo[record.tree_id], ""))

    @cached_property
    def head_ids(self) -> dict[str, str]:
        """Tip commit id of each track (for cache keys and provenance)."""
        with self._damage_is_an_error():
            return {name: str(self.repo.branches.local[name].target) for name in self.tracks()}


def _walk_tree(tree: pygit2.Tree, prefix: str):
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.type_str == "tree":
            yield from _walk_tree(entry, path + "/")
        else:
            yield path


def python_files(repo: pygit2.Repository, tree_id: str) -> dict[str, str]:
    """Path -> text of every Python file of a tree (what the whole-script rules compare)."""
    tree = repo[tree_id]
    return {path: (tree / path).data.decode(errors="replace") for path in _walk_tree(tree, "") if path.endswith(".py")}


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
