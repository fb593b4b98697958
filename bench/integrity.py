"""The integrity figures of the README: cheats caught, faults survived, fuzzed inputs that ended in a
traceback. One command measures all three on this machine:

    python bench/integrity.py            # about 30 minutes on an idle 2-core CPU

*Cheats*: every cheat of tests/cheats.py as a branch of one replay (2 runs a side) and, for those
that edit the script, as a node of a scripted agent run (tests/adversarial.py judges each against
the outcome the catalogue expects: caught with its reason, failed, not valid, paid for, or an
honest score). *Faults*: the cases of tests/test_faults.py (damaged state, double resume,
concurrent writers, kills), each passing when it ends in a recovery or one error line. *Fuzz*:
the examples hypothesis generated for tests/test_fuzz.py, and how many of them failed (any
traceback fails them). Writes bench/results/integrity.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from adversarial import agent_path, replay_path  # noqa: E402
from cheats import SECRET  # noqa: E402
from measured_records import harness_track  # noqa: E402


def cheat_figures(work: Path) -> dict:
    """Both paths of the adversarial suite in a throwaway home."""
    os.environ.update(
        SPEEDRUN_HOME=str(work / "runs"),
        SPEEDRUN_RECORDS=str(work / "records.git"),
        SPEEDRUN_DATA=str(work / "data"),
        OPENAI_API_KEY=SECRET,
    )
    if not shutil.which("bwrap"):
        os.environ["SPEEDRUN_UNSANDBOXED"] = "1"  # then the sandbox's cheats are expected to show
    store = harness_track(work)
    figures = {"sandboxed": bool(shutil.which("bwrap"))}
    for name, run in (("replay path", lambda: replay_path(store, work)), ("agent path", lambda: agent_path(store))):
        verdicts, problems = run()
        figures[name] = {
            "caught": sum(why is None for why in verdicts.values()),
            "cheats": len(verdicts),
            "not caught": {cheat: why for cheat, why in verdicts.items() if why},
            "suite problems": problems,
        }
    return figures


def suite_figures(work: Path) -> dict:
    """The fault and fuzz suites through pytest: cases passed, examples generated and failed."""
    report = work / "junit.xml"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
         f"--junitxml={report}", "tests/test_faults.py", "tests/test_fuzz.py"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    cases = {"test_faults": [0, 0], "test_fuzz": [0, 0]}  # passed, total
    for case in ET.parse(report).iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        if module in cases and case.find("skipped") is None:
            cases[module][1] += 1
            cases[module][0] += case.find("failure") is None and case.find("error") is None
    passing = sum(int(n) for n in re.findall(r"(\d+) passing\b", out.stdout))
    failing = sum(int(n) for n in re.findall(r"(\d+) failing\b", out.stdout))
    return {
        "faults survived": cases["test_faults"][0],
        "fault cases": cases["test_faults"][1],
        "fuzz tests passed": cases["test_fuzz"][0],
        "fuzz tests": cases["test_fuzz"][1],
        "fuzzed inputs": passing + failing,
        "fuzzed inputs with a traceback": max(failing, cases["test_fuzz"][1] - cases["test_fuzz"][0]),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="speedrun-integrity-") as tmp:
        figures = {"date": date.today().isoformat(), **suite_figures(Path(tmp))}
        figures |= cheat_figures(Path(tmp))
    (ROOT / "bench" / "results" / "integrity.json").write_text(json.dumps(figures, indent=2) + "\n")
    replay, agent = figures["replay path"], figures["agent path"]
    unsandboxed = "" if figures["sandboxed"] else " (UNSANDBOXED)"
    print(
        f"cheats caught or contained: replay path {replay['caught']}/{replay['cheats']}, "
        f"agent path {agent['caught']}/{agent['cheats']}{unsandboxed}"
    )
    print(
        f"faults survived {figures['faults survived']}/{figures['fault cases']}; fuzzed inputs "
        f"{figures['fuzzed inputs']}, with a traceback {figures['fuzzed inputs with a traceback']}"
    )
    for path in (replay, agent):
        for cheat, why in path["not caught"].items():
            print(f"  NOT CAUGHT {cheat}: {why}")
        for problem in path["suite problems"]:
            print(f"  SUITE: {problem}")


if __name__ == "__main__":
    main()
