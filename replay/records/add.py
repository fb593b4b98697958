"""``speedrun records add``: validate a record folder, then make exactly one commit and one tag.

Everything is checked before anything is written, and the branch and the tag move together
in one reference transaction, so a rejected record leaves the repository untouched.
"""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
import stat
import warnings
from pathlib import Path

import pygit2

from replay import paths
from replay.errors import SpeedrunError
from replay.records.definitions import defined_names
from replay.records.schema import RecordError, RecordMeta, parse_record_toml
from replay.records.store import RecordsStore, tag_name
from replay.score.log_parser import parse_log

_HINT_NAME = re.compile(r"^level[123]\.md$")
_SKIPPED = {"__pycache__", ".DS_Store", ".ipynb_checkpoints"}
COMMITTER = ("speedrun records", "records@speedrun.invalid")
MAX_FILE_BYTES = 16 * 2**20  # the longest real speedrun log is well under 1 MiB
MAX_RECORD_BYTES = 64 * 2**20
MAX_TOML_BYTES = 2**20


def parse_quietly(source: str) -> ast.Module:
    """Parse a script without warnings: invalid escapes in old scripts are not ours to report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
        return ast.parse(source)


def record_files(folder: Path) -> list[Path]:
    """The files of a record folder that belong in its commit (no caches, no hidden files).

    Everything committed is plain UTF-8 text within the size limits, read from the folder itself:
    a symbolic link (which could reach any file of the machine), a device, pipe or socket, a
    file that is not UTF-8 or is too large is a :class:`RecordError` naming it."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise RecordError(f"{folder}: not a folder")
    files, total = [], 0
    for root, dirs, names in os.walk(folder):  # never follows a link to a folder
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED)
        for name in [*dirs, *names]:
            path = here / name
            if path.is_symlink():
                raise RecordError(f"{path}: a symbolic link; copy the file itself into the folder")
        for name in sorted(names):
            path = here / name
            if name.startswith(".") or name in _SKIPPED or path.suffix == ".pyc":
                continue
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                raise RecordError(f"{path}: not a regular file (a device, pipe or socket)")
            if info.st_size > MAX_FILE_BYTES:
                raise RecordError(f"{path}: {info.st_size} bytes, over the limit of {MAX_FILE_BYTES} per file")
            total += info.st_size
            if total > MAX_RECORD_BYTES:
                raise RecordError(f"{folder}: over {MAX_RECORD_BYTES} bytes in all; a record is code, hints and logs")
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordError(f"{path}: not UTF-8 text (byte {exc.start})") from None
            files.append(path)
    return sorted(files)


def tree_from_folder(repo: pygit2.Repository, folder: Path) -> pygit2.Oid:
    """Write the folder's files as blobs and trees; return the root tree id."""

    def build(directory: Path) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        children = {p.relative_to(directory).parts[0] for p in files if directory in p.parents}
        for name in sorted(children):
            path = directory / name
            if path.is_dir():
                builder.insert(name, build(path), pygit2.enums.FileMode.TREE)
            else:
                mode = (
                    pygit2.enums.FileMode.BLOB_EXECUTABLE if path.stat().st_mode & 0o111 else pygit2.enums.FileMode.BLOB
                )
                builder.insert(name, repo.create_blob(path.read_bytes()), mode)
        return builder.write()

    files = record_files(folder)
    return build(folder)


def validate_folder(
    folder: Path, track: str, store: RecordsStore | None, allow_gap: bool = False, probe_known=None
) -> RecordMeta:
    """Check a record folder against the track it would join; return its metadata. ``probe_known``
    (a probe's name -> whether attribution has it) checks the probes an innovation names."""
    folder = Path(folder)
    where = f"{folder}/{paths.RECORD_TOML}"
    files = record_files(folder)  # first: nothing below reads a link, a device or a non-UTF-8 file
    if folder / paths.RECORD_TOML not in files:
        raise RecordError(f"{folder}: no {paths.RECORD_TOML} (a record folder needs one)")
    if (folder / paths.RECORD_TOML).stat().st_size > MAX_TOML_BYTES:
        raise RecordError(f"{where}: over {MAX_TOML_BYTES} bytes; a record.toml is metadata, not data")
    meta = parse_record_toml((folder / paths.RECORD_TOML).read_text(), where=where)
    if meta.track != track:
        raise RecordError(f"{where}: field 'track' is '{meta.track}' but the record is being added to '{track}'")
    entry = folder / meta.entry
    if entry not in files:
        raise RecordError(f"{where}: field 'entry' names {meta.entry}, which is not in {folder}")
    for script in [entry, *sorted(set(folder.glob("*.py")) - {entry})]:
        try:
            parse_quietly(script.read_text())
        except SyntaxError as exc:
            raise RecordError(f"{script}: not valid Python (line {exc.lineno}: {exc.msg})") from None
        except (RecursionError, MemoryError, ValueError) as exc:
            raise RecordError(f"{script}: Python cannot parse it ({type(exc).__name__})") from None
    _check_labels(meta, folder, where)
    if probe_known is not None:
        for innovation in meta.innovations:
            for probe in innovation.probes:
                if not probe_known(probe):
                    raise RecordError(
                        f"{where}: innovations '{innovation.name}' names probe '{probe}', which attribution does not "
                        "have (the README's probe table lists them)"
                    )
    _check_lineage(meta, track, store, where, allow_gap)
    for path in files:
        relative = path.relative_to(folder)
        if relative.parts[0] == paths.HINTS_DIR and not (len(relative.parts) == 2 and _HINT_NAME.match(relative.name)):
            raise RecordError(f"{path}: hints must be {paths.HINTS_DIR}/level1.md, level2.md or level3.md")
        if relative.parts[0] == paths.LOGS_DIR:
            parsed = parse_log(path.read_text(errors="replace"))
            if not parsed.validation:
                raise RecordError(
                    f"{path}: the log parser found no validation step line (step:S/N val_loss:X train_time:Tms)"
                )
    return meta


def _check_labels(meta: RecordMeta, folder: Path, where: str) -> None:
    """Every innovation anchor and protected name must name something the record's code defines."""
    source = "\n".join(p.read_text() for p in sorted(folder.glob("*.py")))
    labelled = [(f"innovations '{i.name}' anchor", a) for i in meta.innovations for a in i.anchors]
    labelled += [("protected name", name) for name in meta.protected]
    defined = defined_names(source)
    for what, name in labelled:
        scope, _, mention = name.partition("@")
        if scope not in defined:
            raise RecordError(f"{where}: {what} '{name}' is not defined in the record's code")
        if mention and not re.search(rf"\b{re.escape(mention)}\b", source):
            raise RecordError(f"{where}: {what} '{name}' names '{mention}', which the record's code never mentions")


def _check_lineage(meta: RecordMeta, track: str, store: RecordsStore | None, where: str, allow_gap: bool) -> None:
    existing = store.records(track) if store and track in store.tracks() else []
    expected = existing[-1].index + 1 if existing else 1
    if meta.index < expected or (meta.index > expected and not allow_gap):
        raise RecordError(
            f"{where}: field 'index' is {meta.index}; the next record of track '{track}' is {expected}"
            + (" (or a later number, to leave a gap)" if allow_gap else "")
        )
    if existing and meta.date < existing[-1].meta.date:
        parent = existing[-1]
        raise RecordError(f"{where}: field 'date' {meta.date} is before its parent {parent.label}'s {parent.meta.date}")


def commit_message(meta: RecordMeta) -> str:
    """A record commit's message: the tag and name, the description, trailers for scripts."""
    return (
        f"{tag_name(meta.track, meta.index)}: {meta.name}\n\n{meta.description}\n\n"
        f"Record-Track: {meta.track}\nRecord-Index: {meta.index}\nRecord-Time-S: {meta.result.time_s}\n"
    )


def add_record(store: RecordsStore, track: str, folder: Path, allow_gap: bool = False, probe_known=None) -> str:
    """Validate and commit a record folder onto ``track``; return the new commit id. With
    ``allow_gap`` the index may skip numbers (records that exist but whose code does not);
    ``probe_known`` as for :func:`validate_folder`."""
    meta = validate_folder(folder, track, store, allow_gap, probe_known)
    repo = store.repo
    tag_ref = f"refs/tags/{tag_name(track, meta.index)}"
    if tag_ref in repo.references:
        raise RecordError(f"tag {tag_name(track, meta.index)} already exists in {store.path}")
    branch_ref = f"refs/heads/{track}"
    parents = [repo.references[branch_ref].target] if branch_ref in repo.references else []
    tree_id = tree_from_folder(repo, Path(folder))
    when = int(dt.datetime.combine(meta.date, dt.time(12), tzinfo=dt.UTC).timestamp())
    author = pygit2.Signature(meta.authors[0], "records@speedrun.invalid", when, 0)
    committer = pygit2.Signature(*COMMITTER, when, 0)
    commit_id = repo.create_commit(None, author, committer, commit_message(meta), tree_id, parents)
    with repo.transaction() as txn:
        for ref in (branch_ref, tag_ref):
            txn.lock_ref(ref)
            txn.set_target(ref, commit_id, message=f"records add {tag_name(track, meta.index)}")
    if repo.head_is_unborn:
        repo.set_head(branch_ref)  # so plain `git log` in the repository shows the first track
    store.forget(track)
    return str(commit_id)


def init_records_repo(path: Path) -> RecordsStore:
    """Create an empty bare records repository (no hooks, no sample files)."""
    if Path(path).exists():
        raise SpeedrunError(f"{path} already exists")
    repo = pygit2.init_repository(str(path), bare=True)
    for sample in Path(path, "hooks").glob("*"):
        sample.unlink()
    repo.config["core.logAllRefUpdates"] = False
    return RecordsStore(Path(path))
