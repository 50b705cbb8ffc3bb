"""The report as JUnit XML (`stability report --format junit`), for CI systems' test views.

One `<testcase>` per test in scope, named as pytest's own JUnit XML names it (so a CI
system matches it with the tests it already knows), with the stability numbers as
`<property>` elements. A test that violates the target or is broken is a `<failure>`
naming its rate and interval; one with only skipped/xfailed runs is `<skipped>`; the
others pass, an unproven one saying how many clean runs would settle it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from stability.analysis.models import TestStats
from stability.report import _format as f
from stability.report._format import pct as format_rate
from stability.report.build import Report

# Characters XML 1.0 cannot hold, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:.6g}"


def classname_and_name(nodeid: str) -> tuple[str, str, str]:
    """pytest's (classname, name, file) for a node id: the inverse of its JUnit naming."""
    head, bracket, params = nodeid.partition("[")  # a parameter id may hold anything
    parts = head.split("::")
    if len(parts) == 1:
        return "", nodeid, ""
    file, *classes, name = parts
    name += bracket + params
    module = file.removesuffix(".py").replace("/", ".")
    return ".".join([module, *classes]), name, file


def render_junit(report: Report) -> str:
    tests = report.tests
    failing = [t for t in tests if _fails(t)]
    skipped = [t for t in tests if t.status in ("undecided", "environment")]
    suites = ET.Element(
        "testsuites",
        name="pytest-stability",
        tests=str(len(tests)),
        failures=str(len(failing)),
        errors="0",
        skipped=str(len(skipped)),
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="stability",
        tests=str(len(tests)),
        failures=str(len(failing)),
        errors="0",
        skipped=str(len(skipped)),
        timestamp=report.generated_at.isoformat(timespec="seconds"),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("stability.scope", report.scope),
        ("stability.sessions", " ".join(s.id for s in report.sessions)),
        ("stability.target", format_rate(report.options.target)),
        ("stability.confidence", "95%"),
        ("stability.durations", f.durations_note(tests) or "exact"),
    ):
        ET.SubElement(props, "property", name=name, value=_text(value))
    for t in tests:
        _testcase(suite, t, report.options.target)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode")


def _fails(t: TestStats) -> bool:
    return t.verdict == "violates" or t.status == "broken"


def _testcase(suite: ET.Element, t: TestStats, target: float) -> None:
    classname, name, file = classname_and_name(t.nodeid)
    case = ET.SubElement(
        suite,
        "testcase",
        classname=_text(classname),
        name=_text(name),
        time=f"{t.counts.p50_s or 0.0:.3f}",
    )
    if file:
        case.set("file", _text(file))
    props = ET.SubElement(case, "properties")
    c = t.counts
    for key, value in (
        ("flake_rate", _num(t.flake_rate)),
        ("ci_low", _num(t.ci_low)),
        ("ci_high", _num(t.ci_high)),
        ("verdict", t.verdict),
        ("status", t.status),
        ("runs_to_settle", t.runs_needed),
        ("failed", f"{c.failures}/{c.decided}"),
        ("executions", c.executions),
        ("infra", c.infra),
        ("p50_s", _num(c.p50_s)),
        ("p95_s", _num(c.p95_s)),
        ("top_signature", t.signatures[0].signature if t.signatures else None),
    ):
        if value is not None:
            ET.SubElement(props, "property", name=f"stability.{key}", value=_text(value))
    line = (
        f"flake rate {f.pct(t.flake_rate)} ({c.failures}/{c.decided}), 95% interval "
        f"{f.ci(t)}: {t.verdict} the {format_rate(target)} target; {t.status}"
    )
    if _fails(t):
        failure = ET.SubElement(case, "failure", message=_text(line), type=f"stability.{t.verdict}")
        failure.text = _text(
            "\n".join(f"{s.count}x {s.signature}\n  e.g. {s.example}" for s in t.signatures[:5])
        )
    elif t.status == "undecided":
        ET.SubElement(case, "skipped", message="no decided run (only skipped, xfail or infra)")
    elif t.status == "environment":
        ET.SubElement(
            case, "skipped", message="no decided run: only environment failures (network, DNS)"
        )
    else:
        out = ET.SubElement(case, "system-out")
        out.text = _text(
            line + (f"; {t.runs_needed} more clean runs settle it" if t.runs_needed else "")
        )


def write_junit(report: Report, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "junit.xml"
    path.write_text(render_junit(report) + "\n", encoding="utf-8")
    return path
