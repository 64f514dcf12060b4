"""The fault-injection suite's table: after a run that included tests/faults, one row per
test, "fault | outcome", the fault named by the first line of the test's docstring.

``bench/faults.py`` sets ``MOODSPEAKER_FAULTS_TABLE`` to a file name to get the rows as
JSON (it adds its slow cases and prints the same table as docs/benchmarks.md,
"Fault injection: what it survives")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.harness.faults import TABLE_ENV, format_table

ROWS = pytest.StashKey[dict[str, tuple[str, str]]]()


def fault_name(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    first = (doc or "").strip().splitlines()
    name = first[0].strip() if first else item.name
    params = getattr(getattr(item, "callspec", None), "id", None)
    return f"{name} [{params}]" if params else name


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def outcome(report: pytest.TestReport, before: str | None) -> str | None:
    """The row's outcome after this phase (None: the phase changes nothing)."""
    if report.when == "setup":
        if report.skipped:
            return f"skipped: {_skip_reason(report)}"
        return "error (setup)" if report.failed else None
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            if report.skipped:
                return f"xfailed (known bug): {report.wasxfail.removeprefix('reason: ')}"
            return "xpassed"
        if report.skipped:
            return f"skipped: {_skip_reason(report)}"
        return report.outcome
    if report.failed and before == "passed":  # teardown
        return "error (teardown)"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    result = yield
    report = result.get_result()
    rows = item.config.stash.setdefault(ROWS, {})
    before = rows.get(item.nodeid, (None, None))[1]
    new = outcome(report, before)
    if new is not None:
        rows[item.nodeid] = (fault_name(item), new)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    rows = list(config.stash.get(ROWS, {}).values())
    if not rows:
        return
    terminalreporter.write_sep("=", "fault-injection suite (tests/faults)")
    for line in format_table(rows):
        terminalreporter.write_line(line)
    target = os.environ.get(TABLE_ENV)
    if target:
        Path(target).write_text(json.dumps(rows, indent=1))
