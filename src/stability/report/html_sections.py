"""Sections of the HTML report that are plain tables and text (no charts drawn here)."""

from __future__ import annotations

from html import escape

from stability.analysis.suite import suite_signatures
from stability.report import _format as f
from stability.report.build import Report, container_name
from stability.text import first_line


def e(value: object) -> str:
    return escape(str(value), quote=True)


def containers_table(report: Report) -> str:
    """Start-ups per service (the tests' own containers by image): counts, p50/p95/max of
    ready_s, starts over the target, containers that died."""
    target = report.options.startup_target_s
    rows = "".join(
        f"<tr><td>{e(container_name(c.service, c.origin))}</td><td class='num'>{c.starts}</td>"
        f"<td class='num'>{c.failed}</td><td class='num'>{c.died}</td>"
        f"<td class='num'>{e(f.seconds(c.p50_s))}</td>"
        f"<td class='num'>{e(f.seconds(c.p95_s))}</td><td class='num'>{e(f.seconds(c.max_s))}"
        f"</td><td class='num'>{c.over_target}</td></tr>"
        for c in report.suite.containers
    )
    if not rows:
        return ""
    return (
        "<table><thead><tr><th>Service</th><th class='num'>Starts</th><th class='num'>Failed"
        "</th><th class='num' title='ended while nobody had asked it to stop'>Died</th>"
        "<th class='num'>p50</th><th class='num'>p95</th><th class='num'>max</th>"
        f"<th class='num'>Over {target:g} s</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def signatures_section(report: Report, limit: int = 50) -> str:
    rows = []
    for test in report.tests:
        for sig in test.signatures:
            rows.append((test, sig))
    rows.sort(key=lambda r: (-r[1].count, r[0].nodeid))
    if not rows:
        body = '<p class="empty">No failures in this scope.</p>'
    else:
        common = suite_signatures(report.tests)[:10]
        summary = "".join(
            f"<tr><td class='num'>{n}</td><td class='num'>{k}</td>"
            f"<td class='nodeid'>{e(sig)}</td></tr>"
            for sig, n, k, _ in common
        )
        detail = "".join(
            f"<tr><td class='nodeid'>{e(t.nodeid)}</td><td class='nodeid'>{e(s.signature)}</td>"
            f"<td class='num'>{s.count}</td>"
            f"<td class='num'>{where(report, s.first_session, s.first_repetition)}</td>"
            f"<td class='num'>{where(report, s.last_session, s.last_repetition)}</td>"
            f"<td><details><summary>{e(first_line(s.example, 140, empty='(no message)'))}</summary>"
            f"<pre>{e(s.example)}</pre>"
            + (f"<pre>{e(s.example_traceback)}</pre>" if s.example_traceback else "")
            + "</details></td></tr>"
            for t, s in rows[:limit]
        )
        more = f"<p class='note'>…and {len(rows) - limit} more.</p>" if len(rows) > limit else ""
        body = (
            "<table class='sortable' id='signature-summary'><thead><tr>"
            "<th data-type='num' class='num'>Failures</th><th data-type='num' class='num'>Tests"
            f"</th><th data-type='text'>Signature</th></tr></thead><tbody>{summary}</tbody>"
            "</table><h3 style='font-size:14px;margin:18px 0 6px'>By test</h3>"
            "<div class='table-wrap'><table class='sortable' id='signature-table'><thead><tr>"
            "<th data-type='text'>Test</th><th data-type='text'>Signature</th>"
            "<th data-type='num' class='num'>Count</th><th data-type='text'>First</th>"
            "<th data-type='text'>Last</th><th data-type='text'>Example</th></tr></thead>"
            f"<tbody>{detail}</tbody></table></div>{more}"
        )
    return (
        '<section id="signatures"><h2>Failure signatures</h2><p class="hint">Failures grouped '
        "by their normalised message, with the first occurrence as the example.</p>"
        f"{body}</section>"
    )


def where(report: Report, session_id: str, repetition: int) -> str:
    """`#12`, or `session #12` when the scope spans sessions."""
    if len(report.sessions) == 1:
        return f"#{repetition}"
    return f"{e(session_id)} #{repetition}"


def definitions(report: Report) -> str:
    t = f.pct(report.options.target)
    items = [
        (
            "Flake rate",
            "(failed + errors) / (passed + failed + errors); a timeout is a failure. "
            "Skipped, xfailed and non-strict xpassed runs are not decided.",
        ),
        (
            "95% interval",
            "Wilson score interval: where the true rate lies, given the runs seen. "
            "0 failures in 100 runs still allows up to 3.7%.",
        ),
        (
            "Verdict",
            f"meets: the whole interval is under {t}; violates: the whole interval is "
            f"over {t}; unproven: it straddles {t}.",
        ),
        (
            "To settle",
            "Further clean runs after which the interval's upper bound would fall "
            "under the target (given the failures already seen); – for a violating test.",
        ),
        (
            "Status",
            "flaky: passed and failed; broken: never passed; stable: never failed; "
            'undecided: only skipped or infra runs. "across commits": its passes and failures '
            "never share a commit.",
        ),
        (
            "Flip rate",
            "Changes between pass and fail in consecutive runs / (runs − 1): high "
            "means random, low with failures means clustered.",
        ),
        (
            "Infra",
            "Executions whose containers could not start: counted apart, left out of "
            "rates and durations.",
        ),
        (
            "Slow, slowdown",
            f"slow: call p95 over {report.options.slow_threshold_s:g} s; "
            "slowdown: p50 more than 50% and 0.1 s above the previous comparable session (same "
            "label and targets).",
        ),
        (
            "Red repetition",
            "A repetition with at least one failure (or a crash or time-out): "
            "the share a nightly job would see.",
        ),
    ]
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items)
    return f'<section id="definitions"><h2>How to read</h2><dl class="defs">{body}</dl></section>'
