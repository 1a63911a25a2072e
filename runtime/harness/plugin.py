"""The pytest plugin (entry point ``pytest11``): fixtures, failure transcripts, coverage.

* ``dsm_harness`` — a :class:`~dsm.runtime.harness.Harness` for the scripts
  named by the ``@pytest.mark.dsm(scripts=..., config=..., prompts=...)``
  marker, else by the ini option ``dsm_scripts`` (relative to the rootdir),
  else the test file's own directory.
* When a test that used a harness fails, the transcripts of its calls are
  appended to the failure report ("what the call did").
* ``--dsm-cov`` reports chart coverage at the end of the run;
  ``--dsm-cov-fail-under=N`` fails the run below N percent;
  ``--dsm-cov-report=term|json`` picks the format (json goes to stdout, or to
  ``--dsm-cov-json=FILE``).  Each of these options switches coverage on by
  itself (``--dsm-cov`` is implied), so none of them is silently ignored.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dsm.runtime.harness.coverage import COVERAGE

_HARNESSES = pytest.StashKey[list[Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dsm", "DSM script testing")
    group.addoption("--dsm-cov", action="store_true", default=False, help="report DSM chart coverage")
    group.addoption(
        "--dsm-cov-fail-under", type=float, default=None, metavar="N",
        help="fail if total chart coverage is below N percent (implies --dsm-cov)",
    )
    group.addoption(
        "--dsm-cov-report", choices=("term", "json"), default=None,
        help="coverage report format (default: term; implies --dsm-cov)",
    )
    group.addoption(
        "--dsm-cov-json", default=None, metavar="FILE", help="write the JSON report to FILE (implies --dsm-cov)"
    )
    parser.addini("dsm_scripts", "default scripts (dir, .dsm or dsm.conf) for the dsm_harness fixture")


def _coverage_on(config: pytest.Config) -> bool:
    """``--dsm-cov``, or any other coverage option (each implies it)."""
    return bool(
        config.getoption("dsm_cov", False)
        or config.getoption("dsm_cov_json", None)
        or config.getoption("dsm_cov_report", None)
        or config.getoption("dsm_cov_fail_under", None) is not None
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dsm(scripts=None, config=None, prompts=None, config_values=None, include_paths=(), "
        "module_path=(), key_duration=0.1, key_gap=0.1): the arguments of the dsm_harness "
        "fixture's Harness (scripts: dir, .dsm or dsm.conf, relative to the test file; "
        "prompts: name -> file or seconds; config_values: $config.<key> values without a dsm.conf)",
    )
    if _coverage_on(config):
        COVERAGE.reset()
        COVERAGE.enabled = True


@pytest.fixture
def dsm_harness(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A harness on the scripts of the ``dsm`` marker, the ``dsm_scripts`` ini option or the test's folder."""
    from dsm.runtime.harness import Harness

    marker = request.node.get_closest_marker("dsm")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        kwargs.setdefault("scripts", marker.args[0])
    scripts = kwargs.pop("scripts", None)
    base = Path(request.path).parent
    if scripts is None:
        ini = request.config.getini("dsm_scripts")
        scripts = Path(str(request.config.rootpath)) / ini if ini else base
    else:
        scripts = Path(scripts)
        if not scripts.is_absolute():
            scripts = base / scripts
    h = Harness(scripts, **kwargs)
    request.node.stash.setdefault(_HARNESSES, []).append(h)
    yield h


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when == "call":
        for h in item.stash.get(_HARNESSES, []):
            for c in h.calls:
                report.sections.append((f"DSM transcript of call {c.id}", c.transcript()))
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _coverage_on(config):
        return
    fmt = config.getoption("dsm_cov_report") or "term"
    json_file = config.getoption("dsm_cov_json")
    if json_file:
        Path(json_file).write_text(COVERAGE.report_json() + "\n")
    if fmt == "json" and not json_file:
        terminalreporter.write_line(COVERAGE.report_json())
    else:
        for line in COVERAGE.report_text().splitlines():
            terminalreporter.write_line(line)
    threshold = config.getoption("dsm_cov_fail_under")
    if threshold is not None and COVERAGE.total_percent() < threshold:
        terminalreporter.write_line(
            f"FAIL: DSM chart coverage {COVERAGE.total_percent()}% is below {threshold}%", red=True
        )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    threshold = session.config.getoption("dsm_cov_fail_under", None)
    if _coverage_on(session.config) and threshold is not None:
        if COVERAGE.total_percent() < threshold and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
