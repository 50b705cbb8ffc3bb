"""Every string from the history reaches the HTML report as text, never as markup.

Property-style: each hostile payload goes into every user-data field at once (test id,
message, traceback, signature, captured output, label, commit, session id, service,
image, container error), a real history is written and reported, and the page is parsed
back: only our own tags and attributes may be there, and each payload reads back
verbatim as text, as an attribute value or inside the charts' JSON.
"""

from __future__ import annotations

import html
import json
import random
from html.parser import HTMLParser
from pathlib import Path

import pytest

from history_factory import History
from stability.report.build import ReportOptions, build_report
from stability.report.page import render_html
from stability.store.queries import Scope

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "'><svg onload=alert(3)>",
    "</script><script>alert(4)</script>",
    "</textarea></title></style><b>bold</b>",
    "&amp; &lt;not a tag&gt; &#x3c;",
    "<!-- comment --><![CDATA[x]]>",
    "{{ 7 * 7 }} {% raw %} ${7*7}",
    "line\u2028separator\u2029para",
    "javascript:alert(5)",
]
_DANGEROUS = "<>&\"'`/=\\ \u2028{}%!-[]:;"


def _fuzzed(seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(_DANGEROUS + "abc<script>") for _ in range(40))


ALL = PAYLOADS + [_fuzzed(seed) for seed in range(5)]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.cells: list[str] = []  # the text of each table cell
        self._cell: list[str] | None = None
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        if tag == "script":
            self._script = dict(attrs)
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts.append((self._script, data))
            self._script = None
        else:
            self.text.append(data)
            if self._cell is not None:
                self._cell.append(data)


def _hostile_history(path: Path, payload: str) -> Path:
    nodeid = f"tests/test_x.py::test_p[{payload}]"
    history = History(path)
    history.session(
        f"20261101-{payload}",
        {nodeid: "PFPFP", "tests/test_ok.py::test_ok": "PPPPP"},
        label=f"nightly {payload}",
        commit=f"c0ffee {payload}",
        messages={nodeid: f"{payload}: assert {payload}"},
        startup_s={"postgres": [1.0, -1.0]},
    )
    # Fields the factory does not set: captured output, service, image, start error.
    history.executions = [(*e[:14], f"stdout {payload}", *e[15:]) for e in history.executions]
    history.starts = [
        (*s[:2], f"postgres {payload}", f"image {payload}", *s[4:8], f"error {payload}")
        for s in history.starts
    ]
    return history.write()


def _render(path: Path) -> _Page:
    report = build_report(path, Scope(), ReportOptions(charts=True))
    page = _Page()
    page.feed(render_html(report, plotly_js="/* plotly */"))
    page.close()
    return page


@pytest.fixture(scope="module")
def benign(tmp_path_factory: pytest.TempPathFactory) -> _Page:
    return _render(_hostile_history(tmp_path_factory.mktemp("h") / "h.duckdb", "plain"))


@pytest.mark.parametrize("payload", ALL)
def test_user_data_is_text_not_markup(payload: str, benign: _Page, tmp_path: Path) -> None:
    page = _render(_hostile_history(tmp_path / "h.duckdb", payload))
    # Only the elements and attributes of the same report without hostile data.
    assert sorted(set(page.tags)) == sorted(set(benign.tags))
    assert page.tags.count("script") == benign.tags.count("script")
    assert {name for name, _ in page.attributes} == {name for name, _ in benign.attributes}
    assert not any(name.startswith("on") for name, _ in page.attributes)
    # Each field reads back verbatim: as text, as an attribute value or in a chart's JSON.
    text = "".join(page.text)
    values = [value for _, value in page.attributes]
    charts = [
        json.dumps(json.loads(body)) for attrs, body in page.scripts if "data-figure" in attrs
    ]
    as_json = json.dumps(html.escape(payload, quote=False))[1:-1]  # plotly labels are HTML
    assert f"tests/test_x.py::test_p[{payload}]" in values  # data-nodeid
    assert f"{payload}: assert {payload}" in text  # the message, and its traceback
    assert f"Traceback: {payload}: assert {payload}" in text
    signature = payload.split(":")[0].strip()  # as the factory stores it, shown trimmed
    assert signature in [cell.strip() for cell in page.cells]
    assert f"label nightly {payload}" in text  # the scope line names the label
    assert f"commit c0ffee {payload}"[:17] in text  # the commit, shortened
    assert f"postgres {payload}" in text  # the container table's service
    assert any(as_json in chart for chart in charts)  # the charts name the test
    # Captured output, images and start errors are not shown, and never leak raw.
    for field in (f"stdout {payload}", f"image {payload}", f"error {payload}"):
        assert field not in text and field not in values


def test_nothing_in_the_templates_or_the_code_turns_escaping_off() -> None:
    # Raw HTML comes only from page.py's own Markup(...) of our constants; a `|safe` or
    # an `{% autoescape false %}` in a template, or Markup elsewhere, would be a hole.
    import stability

    root = Path(stability.__file__).parent
    templates = list((root / "report" / "templates").glob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text(encoding="utf-8").replace(" ", "")
        assert "|safe" not in text and "autoescapefalse" not in text, template.name
    for module in root.rglob("*.py"):
        if module.name != "page.py":
            assert "Markup(" not in module.read_text(encoding="utf-8"), module
