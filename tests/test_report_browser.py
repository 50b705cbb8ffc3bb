"""The HTML report in Debian's headless Chromium, with the network cut off."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from history_factory import XSS_ID, XSS_MESSAGE, report_history
from stability.analysis.causes import Diagnosis
from stability.report.build import ReportOptions, build_report
from stability.report.page import write_html
from stability.store.ingest import store_diagnosis
from stability.store.queries import Scope

pytestmark = pytest.mark.browser

POLLUTER = "tests/test_x.py::test_setup[<img src=x onerror=alert(4)>]"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    db = report_history(tmp / "history.duckdb")
    store_diagnosis(
        db,
        Diagnosis(
            session_id="20261102-020000-bbbb",
            nodeid=XSS_ID,
            verdict="polluted",
            polluters=(POLLUTER,),
            failing_order=(POLLUTER, XSS_ID),
            failing_command=f"pytest -p no:randomly '{POLLUTER}' '{XSS_ID}'",
            passing_command=f"pytest -p no:randomly '{XSS_ID}'",
            probes=7,
        ),
    )
    return write_html(build_report(db, Scope(), ReportOptions(charts=True)), tmp / "reports")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Page:
    """A loaded report page, and what it tried to do."""

    def __init__(self, browser: Any, index: Path) -> None:
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.route("**/*", self._route)
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(index.as_uri())
        self.page.wait_for_selector(".plot-container", timeout=20_000)

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith("file:") or url.startswith("data:"):
            route.continue_()
        else:  # the network is off: anything else is a bug
            self.blocked.append(url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def column(self, index: int) -> list[str]:
        return [str(t) for t in self.page.eval_on_selector_all(
            "#tests-table tbody tr:not([hidden])",
            f"rows => rows.map(r => r.cells[{index}].textContent.trim())",
        )]  # fmt: skip


@pytest.fixture
def page(browser: Any, index: Path) -> Iterator[Page]:
    loaded = Page(browser, index)
    yield loaded
    loaded.page.close()


def test_loads_offline_and_draws_every_chart(page: Page) -> None:
    assert page.page.title().startswith("Test stability: 3 violating")
    page.page.wait_for_function("document.querySelectorAll('.plot-container').length >= 5")
    assert page.page.locator(".plot-container").count() == 5
    assert page.page.locator(".chart .main-svg").count() >= 5
    # one point per test that failed but is not broken (drawn apart), the grid a heatmap
    assert page.page.locator("#chart-rates .scatterlayer .point").count() == 3
    assert "1 broken test(s) not drawn" in page.page.locator("#rates .hint").inner_text()
    assert page.page.locator("#chart-grid .heatmaplayer image, #chart-grid .hm").count() >= 1
    assert page.blocked == []
    assert all(u.startswith("file:") or u.startswith("data:") for u in page.requests)
    assert page.errors == []


def test_table_sorts_when_a_header_is_clicked(page: Page) -> None:
    names = page.column(0)
    assert names[0] == "tests/test_orders.py::test_broken"  # worst first
    header = page.page.locator("#tests-table thead th", has_text="Test")
    header.click()
    ascending = page.column(0)
    assert ascending == sorted(names, key=str.lower)
    assert ascending != names
    header.click()
    assert page.column(0) == list(reversed(ascending))
    assert header.get_attribute("aria-sort") == "descending"
    p50 = page.page.locator("#tests-table thead th", has_text="p50")
    p50.click()
    values = page.page.eval_on_selector_all(
        "#tests-table tbody tr", "rows => rows.map(r => parseFloat(r.cells[8].dataset.v))"
    )
    assert values == sorted(values)


def test_table_filters(page: Page) -> None:
    page.page.fill("#filter-text", "cache")
    assert page.column(0) == ["tests/test_cache.py::test_expire"]
    assert page.page.text_content("#filter-count") == "1 of 6 tests"
    page.page.fill("#filter-text", "")
    page.page.select_option("#filter-verdict", "violates")
    assert len(page.column(0)) == 3
    page.page.select_option("#filter-status", "broken")
    assert page.column(0) == ["tests/test_orders.py::test_broken"]


def test_script_in_a_test_id_is_shown_as_text_and_runs_nothing(page: Page) -> None:
    assert XSS_ID in page.column(0)
    assert page.page.locator("main script").count() == 0
    assert page.page.locator("main img").count() == 0
    # open the failure example and hover the charts: still nothing runs
    page.page.locator("#signature-table details summary").first.click()
    assert XSS_MESSAGE in page.page.locator("#signature-table").inner_text()
    page.page.locator("#chart-rates").hover()
    page.page.locator("#chart-grid").hover()
    ticks = page.page.eval_on_selector_all(
        "#chart-rates .ytick text", "nodes => nodes.map(n => n.textContent)"
    )
    assert any("<script>alert(1)</script>" in t for t in ticks)
    page.page.wait_for_timeout(200)
    assert page.dialogs == []
    assert page.errors == []


def test_cause_polluter_and_commands_stand_beside_the_victim(page: Page) -> None:
    rows = page.page.eval_on_selector_all(
        "#cause-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
    )
    by_test = {r[0]: r for r in rows}
    assert set(by_test) == {
        XSS_ID,
        "tests/test_orders.py::test_concurrent",
        "tests/test_cache.py::test_expire",
    }
    victim = by_test[XSS_ID]
    assert victim[1] == "order-dependent"
    assert victim[2] == POLLUTER  # shown as text: the <img> in its name runs nothing
    assert f"pytest -p no:randomly '{POLLUTER}' '{XSS_ID}'" in victim[3]
    assert f"passes:\npytest -p no:randomly '{XSS_ID}'" in victim[3]
    # in the declared order, each in a fresh process: flaky on their own
    assert by_test["tests/test_orders.py::test_concurrent"][1] == "non-order-dependent"
    assert by_test["tests/test_cache.py::test_expire"][1] == "non-order-dependent"
    assert page.page.locator("main img").count() == 0
    page.page.wait_for_timeout(200)
    assert page.dialogs == []
