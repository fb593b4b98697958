"""An innovation's label may name behavioural probes (``probes`` in record.toml) beyond those its name
selects: they are parsed, checked against the probes attribution has when ``speedrun records add``
takes the record (an unknown one is one clear error, the store untouched), measured for the task and
decide as a probe the name selects does; every probe a shipped label names exists (record 4's "Muon
optimizer", a name too general to select a probe that tells record 3 from it, names one)."""

import tomllib
from pathlib import Path

import pytest
from test_analysis_probes import BY_BLOCKS, blocks_script
from test_records import snapshot
from typer.testing import CliRunner

from analysis import probe_worker
from analysis.attribute import Innovation
from analysis.probes import Prober, behaviour, innovation_probes, probe_exists
from replay.cli.app import app
from replay.errors import SpeedrunError
from replay.importer.shipped_labels import LABELS_DIR, load_labels
from replay.records.add import init_records_repo
from replay.records.schema import parse_record_toml
from replay.records.store import RecordsStore

from toyrecords import write_toy_record


def _with_probes(text: str, probes: str) -> str:
    anchors = 'anchors = ["Hyperparameters.step_ms"]'
    return text.replace(anchors, f"{anchors}\nprobes = {probes}")


def test_probes_a_label_names_are_read_and_added_to_those_of_its_name(tmp_path):
    folder = write_toy_record(tmp_path / "r1")
    toml = (folder / "record.toml").read_text()
    assert parse_record_toml(toml).innovations[0].probes == ()
    meta = parse_record_toml(_with_probes(toml, '["blockwise_orthogonal"]'))
    assert meta.innovations[0].probes == ("blockwise_orthogonal",)
    general = Innovation("Muon optimizer", (), "", ("blockwise_orthogonal",))
    assert innovation_probes(general) == ["orthogonal_update", "blockwise_orthogonal"]
    assert innovation_probes(Innovation("Muon optimizer", ())) == ["orthogonal_update"]
    assert probe_exists("blockwise_orthogonal") and probe_exists("rising:window")
    assert not probe_exists("blockwise_orthogonalised") and not probe_exists("rising:")


@pytest.mark.parametrize("probes, added", [('["no_such_probe"]', False), ('["rising:momentum", "fp8_head"]', True)])
def test_records_add_checks_the_probes_a_label_names(home, tmp_path, probes, added):
    init_records_repo(Path(home / "records.git"))
    folder = write_toy_record(tmp_path / "r1")
    (folder / "record.toml").write_text(_with_probes((folder / "record.toml").read_text(), probes))
    before = snapshot(home / "records.git")
    result = CliRunner().invoke(app, ["records", "add", "--track", "toy", str(folder)])
    if added:
        assert result.exit_code == 0, result.output
        assert RecordsStore().records("toy")[0].meta.innovations[0].probes == ("rising:momentum", "fp8_head")
    else:  # a SpeedrunError: the console entry point prints it as one line
        assert isinstance(result.exception, SpeedrunError)
        assert "names probe 'no_such_probe', which attribution does not have" in str(result.exception)
        assert snapshot(home / "records.git") == before


def test_a_probe_the_label_names_decides_as_one_the_name_selects():
    class InProcess(Prober):  # measured here, as the sandboxed worker would
        def __init__(self):
            pass

        def measure(self, text, probes):
            return probe_worker.measure(text, probes)

    # record i orthogonalises the fused (3C x C) weight whole; record i+1 each of its C x C blocks
    named = [Innovation("optimizer", (), "", ("blockwise_orthogonal",))]
    base, target = blocks_script(), blocks_script(UPDATE=BY_BLOCKS)
    for candidate, decided in ((target, True), (base, False)):
        verdict = behaviour(InProcess(), base, target, candidate, named)["optimizer"]
        assert verdict.probe == "blockwise_orthogonal" and verdict.decided is decided
    assert behaviour(InProcess(), base, target, target, [Innovation("optimizer", ())]) == {}


def test_every_probe_a_shipped_label_names_exists():
    named = []
    for path in sorted(LABELS_DIR.glob("*/r*/labels.toml")):
        for innovation in tomllib.loads(path.read_text()).get("innovations", []):
            named += [(path, innovation["name"], p) for p in innovation.get("probes", [])]
    assert named, "record 4's Muon optimizer names its probe"
    assert [n for n in named if not probe_exists(n[2])] == []
    assert load_labels("nanogpt", 4).innovations[0]["probes"] == ["blockwise_orthogonal"]
