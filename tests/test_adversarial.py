"""No cheat yields a valid faster time, on either path: every cheat of tests/cheats.py, run as a
branch through a replay and as the reply of a scripted agent, gets the outcome the catalogue
expects (caught with its reason, failed, or contained with a score identical to the honest
record's), and none escapes the sandbox: no marker of an escape in any log, no secret of the
harness's environment, no process left behind, the records and the cache unchanged."""

import pytest
from adversarial import agent_path, replay_path
from cheats import CHEATS, SECRET
from measured_records import harness_track

pytestmark = pytest.mark.slow


@pytest.fixture
def adversarial_home(home, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SPEEDRUN_DATA", str(tmp_path_factory.getbasetemp() / "shared-data"))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # the harness holds a key: no cheat may see it
    store = harness_track(home)
    return store, home


def test_every_cheat_is_caught_or_contained_on_the_replay_path(adversarial_home):
    verdicts, problems = replay_path(*adversarial_home)
    assert set(verdicts) == {cheat.name for cheat in CHEATS}
    assert {name: why for name, why in verdicts.items() if why} == {} and problems == []


def test_every_cheat_is_caught_or_contained_on_the_agent_path(adversarial_home):
    """The agent edits only its script, so the record.toml cheats do not apply on this path."""
    verdicts, problems = agent_path(adversarial_home[0])
    assert set(verdicts) == {cheat.name for cheat in CHEATS if not cheat.toml}
    assert {name: why for name, why in verdicts.items() if why} == {} and problems == []
