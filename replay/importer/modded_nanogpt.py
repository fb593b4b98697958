"""``speedrun records import``: turn a modded-nanogpt checkout's record history into a track.

The record list comes from the README's record table (the ``records/`` folder also holds
experiments that are not records). A record's code is taken from its linked log, which opens
with the script (appended files such as ``triton_kernels.py`` become files of their own);
the first three records predate usable logs, so their code is the root ``train_gpt2.py`` at
the commits that set them, launched with the flags of that commit's ``run.sh``. Everything is
read from the checkout's HEAD commit with pygit2, so a bare mirror works as well as a checkout
and the import is reproducible.

Each record becomes one commit made by :func:`replay.records.add.add_record` (the same
validation as ``records add``), with the labels and hints this project ships
(replay/importer/labels/). Re-importing is a no-op; a newer checkout appends only the new
records. A record's index is its README number, so task N here is task N of the speedrun's own
table: re-timing rows (a repeated number) are skipped with a note, and a row without a log
leaves a gap that the task before it spans (its target's ``notes`` say so). A track imported
before indices followed the README is refused until ``speedrun records renumber`` has
renumbered it.
"""

from __future__ import annotations

import itertools
import shlex
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from replay import paths
from replay.errors import SpeedrunError
from replay.importer.log_reader import LogFormatError, llmc_final, split_log
from replay.importer.readme_table import TableError, TableRow, parse_record_table
from replay.importer.renumber import gap_note, readme_number
from replay.importer.shipped_labels import LABELS_DIR, Labels, load_labels, official_result, paper_hints
from replay.importer.toml_writer import render
from replay.records.add import add_record
from replay.records.definitions import defined_names
from replay.records.store import RecordsStore, tag_name
from replay.score.log_parser import parse_log

PAPER_RECORDS = 21
# Records 1-3 have no log that carries code: the root script at the commit that set each.
ROOT_SCRIPT_COMMITS = {1: "4a452a26", 2: "3e48a54c", 3: "cd06e200"}
ROOT_SCRIPT = "train_gpt2.py"
ENTRY = "train_gpt.py"
DATASET = "fineweb10B"
TARGET_VAL_LOSS = 3.28
HARDWARE = "8xH100"
NPROC = 8
LOG_SUFFIXES = (".txt", ".log")
MAX_DERIVED_ANCHORS = 12

# (parent script, script) -> qualified names of the definitions the record changed, in order, once each.
ChangedDefinitions = Callable[[str, str], list[str]]


class CheckoutError(SpeedrunError):
    """The checkout lacks something the import needs."""


@dataclass
class Candidate:
    """One record as read from the checkout, before it is written."""

    row: TableRow
    sources: dict[str, str]  # file name -> source (the entry first)
    log_name: str | None = None
    log_text: str | None = None
    val_loss: float | None = None
    steps: int | None = None
    runs: int = 1
    python: str | None = None
    torch: str | None = None
    args: list[str] = field(default_factory=list)
    origin: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import did."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def import_records(
    checkout: Path,
    store: RecordsStore,
    *,
    changed_definitions: ChangedDefinitions,
    track: str = "nanogpt",
    through: int | None = PAPER_RECORDS,
    hints_dir: Path | None = None,
    on_record=None,
    root_commits: dict[int, str] = ROOT_SCRIPT_COMMITS,
    labels_root: Path = LABELS_DIR,
) -> ImportReport:
    """Import the checkout's records 1..``through`` (None: every logged record) onto ``track``.

    ``changed_definitions(parent_script, script)`` names the definitions a record changed: it
    anchors the derived innovation of a record we have not labelled (the command line passes
    attribution's structural diff, which sits above this layer). ``root_commits`` and
    ``labels_root`` exist for tests, whose fixture checkouts have their own commits and labels."""
    repo = _open_checkout(checkout)
    head = repo.revparse_single("HEAD").peel(pygit2.Commit)
    reader = _TreeReader(repo, head.tree, checkout)
    report = ImportReport()
    usable = _select_rows(reader, through, report, root_commits)
    candidates = [
        _read_candidate(reader, repo, row, root_commits) for row in usable if through is None or row.number <= through
    ]
    later = (_read_candidate(reader, repo, row, root_commits) for row in usable[len(candidates) :])
    _fill_environment(candidates, later)
    existing = store.records(track) if track in store.tracks() else []
    for record in existing:
        _check_numbered_by_readme(record)
    for record, candidate in zip(existing, candidates, strict=False):
        _check_same(record, candidate, store, checkout)
        report.unchanged.append(record.label)
    # Everything is read and checked before the first commit; a failure while committing
    # rolls the track back, so an import lands whole or not at all.
    protected = existing[-1].meta.protected if existing else ()
    prepared = []
    for position in range(len(existing), len(candidates)):
        candidate = candidates[position]
        previous = candidates[position - 1] if position else None
        following = candidates[position + 1] if position + 1 < len(candidates) else None
        labels = load_labels(track, candidate.row.number, labels_root) or _derived_labels(
            candidate, previous, protected, changed_definitions
        )
        protected = labels.protected
        official = official_result(track, candidate.row.number, labels_root)
        document = _record_document(track, candidate, labels, official, previous, following, head)
        prepared.append((candidate, document, _hints(labels, hints_dir, previous)))
    with _rollback_on_failure(store, track):
        for candidate, document, hints in prepared:
            _write_record(store, track, candidate, document, hints)
            report.added.append(tag_name(track, candidate.row.number))
            if on_record:
                on_record(report.added[-1], candidate)
    return report


@contextmanager
def _rollback_on_failure(store: RecordsStore, track: str):
    """Restore the track's branch and tags if anything below fails."""
    repo = store.repo
    branch = f"refs/heads/{track}"
    before = repo.references[branch].target if branch in repo.references else None
    tags_before = {r for r in repo.references if r.startswith(f"refs/tags/{track}/")}
    try:
        yield
    except BaseException:
        for ref in {r for r in repo.references if r.startswith(f"refs/tags/{track}/")} - tags_before:
            repo.references.delete(ref)
        if before is None:
            if branch in repo.references:
                repo.references.delete(branch)
        else:
            repo.references[branch].set_target(before)
        store.forget(track)
        raise


def _open_checkout(checkout: Path) -> pygit2.Repository:
    found = pygit2.discover_repository(str(checkout)) if Path(checkout).exists() else None
    if found is None:
        raise CheckoutError(f"{checkout}: not a git checkout (clone KellerJordan/modded-nanogpt and pass its path)")
    repo = pygit2.Repository(found)
    if repo.head_is_unborn:
        raise CheckoutError(f"{checkout}: the repository has no commits")
    return repo


class _TreeReader:
    """Files of the checkout's HEAD commit, with errors that name the checkout."""

    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree, checkout: Path):
        self.repo, self.tree, self.checkout = repo, tree, checkout

    def entry(self, path: str):
        try:
            return self.tree / path
        except KeyError:
            return None

    def text(self, path: str, what: str) -> str:
        obj = self.entry(path)
        if not isinstance(obj, pygit2.Blob):
            raise CheckoutError(f"{self.checkout}: {what} '{path}' is not in the checkout's HEAD")
        return obj.data.decode("utf-8", errors="replace")

    def logs_under(self, folder: str) -> list[str]:
        """Log files under a folder, recursively, sorted by path."""
        found = []

        def walk(tree: pygit2.Tree, prefix: str) -> None:
            for item in tree:
                if item.type_str == "tree":
                    walk(item, f"{prefix}{item.name}/")
                elif item.name.endswith(LOG_SUFFIXES):
                    found.append(prefix + item.name)

        walk(self.entry(folder), folder + "/")
        return sorted(found)


def _select_rows(
    reader: _TreeReader, through: int | None, report: ImportReport, root_commits: dict[int, str]
) -> list[TableRow]:
    try:
        rows = parse_record_table(reader.text("README.md", "the README"))
    except TableError as exc:
        raise CheckoutError(f"{reader.checkout}/README.md: {exc}") from None
    selected: dict[int, TableRow] = {}
    for row in rows:
        note = None
        if row.number in selected:
            note = f"README #{row.number} (line {row.line}): re-timing of record {row.number}, skipped"
        elif row.log is None and row.number not in root_commits:
            note = f"README #{row.number} (line {row.line}): no log to take the code from, skipped"
        else:
            selected[row.number] = row
        if note and (through is None or row.number <= through):
            report.skipped.append(note)
    if through is not None:
        missing = [n for n in range(1, through + 1) if n not in selected]
        if missing:
            raise CheckoutError(
                f"{reader.checkout}/README.md: the record table has no usable row for record {missing[0]}"
            )
    ordered = sorted(selected.values(), key=lambda r: r.number)
    if not ordered or ordered[0].number != 1:
        raise CheckoutError(f"{reader.checkout}/README.md: the record table has no record 1")
    return ordered


def _read_candidate(
    reader: _TreeReader, repo: pygit2.Repository, row: TableRow, root_commits: dict[int, str]
) -> Candidate:
    if row.number in root_commits:
        return _root_script_candidate(reader, repo, row, root_commits[row.number])
    obj = reader.entry(row.log)
    if obj is None:
        raise CheckoutError(
            f"{reader.checkout}: record {row.number}'s log '{row.log}' (README line {row.line}) is not in the checkout"
        )
    paths_ = reader.logs_under(row.log) if isinstance(obj, pygit2.Tree) else [row.log]
    parsed = []
    for path in paths_:
        text = reader.text(path, f"record {row.number}'s log")
        try:
            parsed.append((path, text, split_log(text)))
        except LogFormatError:
            continue
    if not parsed:
        raise CheckoutError(
            f"{reader.checkout}: record {row.number}'s log '{row.log}' carries no code (expected the script, then a "
            "line of 100 '=')"
        )
    # A folder's logs are runs of one script; keep the runs of the first log's code.
    path, text, log = parsed[0]
    same = [
        (p, t, lg) for p, t, lg in parsed if lg.main_source == log.main_source and lg.extra_sources == log.extra_sources
    ]
    finals = [parse_log(lg.body).final for _, _, lg in same]
    finals = [f for f in finals if f is not None]
    if not finals:
        raise CheckoutError(
            f"{reader.checkout}: record {row.number}'s log '{path}' has no final validation line (step:N/N "
            "val_loss:...)"
        )
    candidate = Candidate(
        row=row,
        sources={ENTRY: log.main_source, **log.extra_sources},
        log_name=Path(path).name,
        log_text=text,
        val_loss=round(statistics.fmean(f.val_loss for f in finals), 4),
        steps=finals[0].step,
        runs=len(finals),
        python=log.python,
        torch=log.torch,
        origin=path,
    )
    if len(same) < len(parsed):
        candidate.notes.append(f"{len(parsed) - len(same)} log(s) in {row.log} ran other code and were left out")
    return candidate


def _root_script_candidate(reader: _TreeReader, repo: pygit2.Repository, row: TableRow, short: str) -> Candidate:
    try:
        commit = repo.revparse_single(short).peel(pygit2.Commit)
    except (KeyError, ValueError):
        raise CheckoutError(
            f"{reader.checkout}: commit {short} (record {row.number}'s {ROOT_SCRIPT}) is missing; "
            "use a full clone (git fetch --unshallow)"
        ) from None
    commit_reader = _TreeReader(repo, commit.tree, reader.checkout)
    source = commit_reader.text(ROOT_SCRIPT, f"record {row.number}'s script at commit {short}")
    args = _run_sh_args(commit_reader.text("run.sh", f"record {row.number}'s launch flags at commit {short}"))
    candidate = Candidate(
        row=row, sources={ENTRY: source}, args=args, origin=f"{ROOT_SCRIPT} at commit {str(commit.id)[:12]}"
    )
    final = (
        llmc_final(reader.text(row.log, f"record {row.number}'s log")) if row.log and reader.entry(row.log) else None
    )
    if final:
        candidate.steps, candidate.val_loss = final
        candidate.notes.append(f"val loss and steps from the llm.c-format log {row.log}")
    return candidate


def _run_sh_args(run_sh: str) -> list[str]:
    """The flags ``run.sh`` passes to the training script (everything after ``*.py``)."""
    words = shlex.split(run_sh.replace("\\\n", " "), comments=True)
    for i, word in enumerate(words):
        if word.endswith(".py"):
            return words[i + 1 :]
    raise CheckoutError("run.sh launches no .py script")


def _fill_environment(candidates: list[Candidate], later: Iterator[Candidate]) -> None:
    """Records whose log has no version header take the nearest record's pins: the next ones
    first (also past ``--through``, read only if needed), then the earlier ones."""
    read_later: list[Candidate] = []

    def beyond() -> Iterator[Candidate]:
        yield from read_later
        for candidate in later:
            read_later.append(candidate)
            yield candidate

    for field_name in ("python", "torch"):
        for i, candidate in enumerate(candidates):
            if getattr(candidate, field_name):
                continue
            order = itertools.chain(candidates[i + 1 :], beyond(), reversed(candidates[:i]))
            donor = next((c for c in order if getattr(c, field_name)), None)
            if donor is None:
                raise CheckoutError(f"no log of the imported records names its {field_name} version")
            setattr(candidate, field_name, getattr(donor, field_name))
            candidate.notes.append(f"{field_name} pin taken from README #{donor.row.number}'s log")


def _check_numbered_by_readme(record) -> None:
    """A track imported before records kept their README numbers must be renumbered first."""
    number = readme_number(record)
    if number is not None and number != record.index:
        raise CheckoutError(
            f"track '{record.track}' numbers its records by position ({record.label} is README #{number}): run "
            f"`speedrun records renumber --track {record.track}` once, then import again"
        )


def _check_same(record, candidate: Candidate, store: RecordsStore, checkout: Path) -> None:
    if record.index != candidate.row.number:
        raise CheckoutError(
            f"{record.label} is not README #{candidate.row.number} of {checkout}: "
            "the track was imported from another history; import into a new --track"
        )
    for name, source in candidate.sources.items():
        try:
            ours = store.read_file(record, name).decode()
        except SpeedrunError:
            ours = None
        if ours != source:
            raise CheckoutError(
                f"{record.label} differs from README #{candidate.row.number} of {checkout} ({name}): "
                "the track was imported from another history; import into a new --track"
            )


def _record_document(
    track: str, candidate: Candidate, labels: Labels, official: dict, previous, following, head
) -> dict:
    """The record.toml of one candidate, as a dict; its index is its README number."""
    row = candidate.row
    val_loss = candidate.val_loss if candidate.val_loss is not None else official.get("val_loss")
    steps = candidate.steps or official.get("steps") or _flag_int(candidate.args, "--num_iterations")
    if val_loss is None or steps is None:
        raise CheckoutError(
            f"README #{row.number}: no log gives its final val loss and steps, and no label provides them"
        )
    notes = [gap_note(previous.row.number, row.number)] if previous and row.number > previous.row.number + 1 else []
    notes.append(
        f"Imported from README #{row.number} of modded-nanogpt at {str(head.id)[:12]}; code from {candidate.origin}."
    )
    notes += candidate.notes
    same_code_next = following is not None and following.sources == candidate.sources
    if same_code_next:
        notes.append(f"Task skipped: README #{following.row.number} has identical code.")
    document = {
        "schema": 1,
        "track": track,
        "index": row.number,
        "name": _slug(row.description),
        "date": row.date,
        "authors": list(row.contributors) or ["unknown"],
        "description": row.description,
        "entry": ENTRY,
        "launcher": "torchrun",
        "nproc": NPROC,
        "target_val_loss": TARGET_VAL_LOSS,
        "task": not same_code_next,
        "data": DATASET,
        "notes": " ".join(n if n.endswith(".") else n + "." for n in notes),
    }
    if candidate.args:
        document["args"] = candidate.args
    document["result"] = {
        "time_s": round(row.time_s, 3),
        "val_loss": val_loss,
        "steps": int(steps),
        "runs": candidate.runs,
        "hardware": HARDWARE,
    }
    document["environment"] = {"python": candidate.python, "torch": candidate.torch}
    if labels.innovations:
        document["innovations"] = [dict(i) for i in labels.innovations]
    if labels.protected:
        document["protected"] = {"names": list(labels.protected)}
    return document


def _hints(labels: Labels, hints_dir: Path | None, previous: Candidate | None) -> dict[int, str]:
    """Hints for the task ending at this record: ours, or the paper's for the task that starts at
    the previous record."""
    if hints_dir and previous is not None:
        return paper_hints(hints_dir, previous.row.number)
    return labels.hints


def _write_record(store: RecordsStore, track: str, candidate: Candidate, document: dict, hints: dict[int, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="speedrun-import-") as tmp:
        folder = Path(tmp)
        for name, source in candidate.sources.items():
            (folder / name).write_text(source)
        (folder / paths.RECORD_TOML).write_text(render(document))
        for level, text in sorted(hints.items()):
            (folder / paths.HINTS_DIR).mkdir(exist_ok=True)
            (folder / paths.HINTS_DIR / f"level{level}.md").write_text(text)
        if candidate.log_text:  # only logs with a final validation line become candidates
            (folder / paths.LOGS_DIR).mkdir()
            (folder / paths.LOGS_DIR / candidate.log_name).write_text(candidate.log_text)
        add_record(store, track, folder, allow_gap=True)


def _derived_labels(
    candidate: Candidate,
    previous: Candidate | None,
    protected: tuple[str, ...],
    changed_definitions: ChangedDefinitions,
) -> Labels:
    """Labels for a record we have not labelled: the README description as the innovation, anchored
    at the definitions its diff changes; the parent's protected names where still defined."""
    if previous is None:
        return Labels()
    defined = defined_names("\n".join(candidate.sources.values()))
    changed = changed_definitions(previous.sources[ENTRY], candidate.sources[ENTRY])
    anchors = [name for name in changed if name in defined][:MAX_DERIVED_ANCHORS]
    innovations = (
        (
            {
                "name": candidate.row.description,
                "description": "Derived from the README; anchors from the AST diff.",
                "anchors": anchors,
            },
        )
        if anchors
        else ()
    )
    return Labels(innovations=innovations, protected=tuple(n for n in protected if n in defined))


def _flag_int(args: list[str], flag: str) -> int | None:
    return int(args[args.index(flag) + 1]) if flag in args[:-1] else None


def _slug(description: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in description.lower()).split()
    return "-".join(words[:8]) or "record"
