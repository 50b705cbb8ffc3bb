"""The leftover record's pure logic: row and key changes, merging, wording, ranking."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stability.analysis.leftovers import LeftoverRow, rank_polluter_candidates, summarise
from stability.containers import leftovers as lo
from stability.containers.config import load_settings
from stability.exceptions import ConfigError
from stability.runner.repetition import RepetitionSpec, build_rows


@pytest.mark.parametrize(
    ("before", "after", "new", "expected"),
    [
        (10, 11, 1, (1, 0, 0)),  # one insert
        (10, 10, 1, (0, 1, 0)),  # one update
        (10, 9, 0, (0, 0, 1)),  # one delete
        (10, 9, 1, (0, 1, 1)),  # an update and a delete
        (10, 12, 3, (2, 1, 0)),  # two inserts and an update
        (10, 10, 0, (0, 0, 0)),  # a write that changed nothing visible (SELECT FOR UPDATE)
    ],
)
def test_row_changes_are_the_fewest_that_explain_the_counts(
    before: int, after: int, new: int, expected: tuple[int, int, int]
) -> None:
    change = lo.row_changes(before, after, new)
    assert (change["inserted"], change["updated"], change["deleted"]) == expected


def test_redis_changes_classify_keys_by_first_event_and_final_existence() -> None:
    events = [
        ("new", "db0:added"),
        ("set", "db0:added"),
        ("set", "db0:changed"),
        ("del", "db0:removed"),
        ("new", "db0:transient"),
        ("del", "db0:transient"),
        ("expired", "db0:ttl"),  # the server's doing
        ("evicted", "db1:lru"),
    ]
    exists = {"db0:added": True, "db0:changed": True, "db0:removed": False}
    assert lo.redis_changes(events, exists) == {
        "added": {"count": 1, "examples": ["db0:added"]},
        "changed": {"count": 1, "examples": ["db0:changed"]},
        "removed": {"count": 1, "examples": ["db0:removed"]},
    }


def test_redis_changes_keep_a_few_example_keys() -> None:
    events = [("new", f"db0:k{i}") for i in range(10)]
    found = lo.redis_changes(events, {f"db0:k{i}": True for i in range(10)})
    assert found["added"]["count"] == 10
    assert found["added"]["examples"] == ["db0:k0", "db0:k1", "db0:k2"]


def test_merge_adds_counts_and_keeps_flags() -> None:
    own = {
        "postgres": {"rows": {"t": {"inserted": 1, "updated": 0, "deleted": 0}}},
        "threads": ["mailer"],
    }
    late = {
        "postgres": {
            "rows": {"t": {"inserted": 2, "updated": 1, "deleted": 0}},
            "sequences": {"s": 1},
        },
        "redis": {"added": {"count": 1, "examples": ["db0:a"]}},
        "late": True,
    }
    assert lo.merge(own, late) == {
        "postgres": {
            "rows": {"t": {"inserted": 3, "updated": 1, "deleted": 0}},
            "sequences": {"s": 1},
        },
        "redis": {"added": {"count": 1, "examples": ["db0:a"]}},
        "threads": ["mailer"],
        "late": True,
    }
    assert lo.merge(None, own) is own and lo.merge(own, {}) is own


def test_describe_says_what_and_why_in_one_line() -> None:
    found = {
        "postgres": {
            "rows": {"public.t": {"inserted": 2, "updated": 0, "deleted": 1}},
            "created": ["table public.scratch"],
            "sequences": {"public.s": 3},
        },
        "redis": {"changed": {"count": 4, "examples": ["db0:a", "db0:b"]}},
        "threads": ["mailer"],
        "bypassed_transaction": True,
        "late": True,
    }
    assert lo.describe(found) == (
        "rows: public.t +2 inserted -1 deleted; created: table public.scratch; "
        "sequences advanced: public.s +3; redis keys: 4 changed (e.g. db0:a, db0:b); "
        "threads still running: mailer [written outside its pg_transaction: the rollback "
        "did not cover it; partly after the test ended]"
    )
    assert lo.describe(None) == "nothing"
    assert lo.describe({"late": True}) == "nothing"  # flags alone are no leftover


def test_stored_form_round_trips_and_clean_is_null() -> None:
    found = {"redis": {"added": {"count": 1, "examples": ["db0:a"]}}, "late": True}
    text = lo.dumps(found)
    assert text is not None and '"late": true' in text  # what the SQL in the store matches
    assert lo.loads(text) == found
    assert lo.dumps({}) is None and lo.dumps({"late": True}) is None
    assert lo.loads(None) is None and lo.loads("not json") is None and lo.loads("[1]") is None


def test_summaries_rank_the_most_frequent_polluters_first() -> None:
    pg = '{"postgres": {"created": ["table public.x"]}}'
    rows = [
        LeftoverRow("t::sometimes", 1, pg),
        LeftoverRow("t::always", 5, '{"bypassed_transaction": true, "threads": ["m"]}', True),
        LeftoverRow("t::unreadable", 2, "{"),
    ]
    summaries = summarise(rows, {"t::sometimes": 10, "t::always": 5})
    assert [s.nodeid for s in summaries] == ["t::always", "t::sometimes"]
    assert summaries[0].bypassed_transaction and summaries[0].checked == 5
    assert summaries[1].description == "created: table public.x"
    ranked = rank_polluter_candidates(["t::a", "t::sometimes", "t::b", "t::always"], summaries)
    assert ranked == ["t::always", "t::sometimes", "t::a", "t::b"]


def test_the_runner_merges_a_tests_own_and_late_leftovers_into_its_execution() -> None:
    spec = RepetitionSpec("s1", 1, 0, ["pytest"], Path("."))
    records: list[dict[str, Any]] = [
        {"kind": "session_start", "pid": 1},
        {"kind": "leftovers", "nodeid": "t.py::a", "leftovers": {"threads": ["mailer"]}},
        {"kind": "execution", "nodeid": "t.py::a", "file": "t.py", "outcome": "passed"},
        {"kind": "execution", "nodeid": "t.py::b", "file": "t.py", "outcome": "passed"},
        {
            "kind": "leftovers",
            "nodeid": "t.py::a",
            "leftovers": {"redis": {"added": {"count": 1, "examples": ["db0:k"]}}, "late": True},
        },
        {"kind": "session_finish", "exitstatus": 0},
    ]
    rows, status = build_rows(
        spec,
        records,
        exit_code=0,
        timed_out=False,
        wall_s=1.0,
        started_at=datetime.now(UTC),
    )
    assert status == "passed"
    stored = {e.nodeid: lo.loads(e.leftovers) for e in rows.executions}
    assert stored == {
        "t.py::a": {
            "redis": {"added": {"count": 1, "examples": ["db0:k"]}},
            "threads": ["mailer"],
            "late": True,
        },
        "t.py::b": None,
    }


def test_check_leftovers_setting(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.stability]\ncheck_leftovers = true\n")
    assert load_settings(tmp_path, environ={}).check_leftovers is True
    env = {"STABILITY_CHECK_LEFTOVERS": "off"}
    assert load_settings(tmp_path, environ=env).check_leftovers is False
    assert load_settings(tmp_path / "x", environ={}).check_leftovers is True  # the nearest file
    (tmp_path / "pyproject.toml").write_text('[tool.stability]\ncheck_leftovers = "maybe"\n')
    with pytest.raises(ConfigError, match=r"check_leftovers .* must be true or false"):
        load_settings(tmp_path, environ={})


def test_the_watch_is_on_only_when_asked_or_under_the_runner(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_watch(pytestconfig):
            print("WATCH", pytestconfig.pluginmanager.has_plugin("stability-leftovers"))
        """
    )
    plain = pytester.runpytest_inprocess("-s")
    plain.stdout.fnmatch_lines(["*WATCH False*"])
    asked = pytester.runpytest_inprocess("-s", "--stability-leftovers")
    asked.stdout.fnmatch_lines(["*WATCH True*"])
    pytester.makepyprojecttoml("[tool.stability]\ncheck_leftovers = true\n")
    configured = pytester.runpytest_inprocess("-s")
    configured.stdout.fnmatch_lines(["*WATCH True*"])


def test_steps_read_after_a_skipped_reading_are_dropped_as_unplaceable() -> None:
    """The sequences are skipped when the next test announced is in pg_transaction; if
    another test runs instead, its reading holds steps it cannot tell from theirs."""
    from stability.containers.leftover_watch import LeftoverWatch

    rows = {"public.items": {"inserted": 1, "updated": 0, "deleted": 0}}

    class Probe:
        def __init__(self) -> None:
            self.asked: list[bool] = []

        def end_window(self, sequences: bool = True) -> None:
            self.asked.append(sequences)

        def measure(self) -> dict[str, Any]:
            sequences = self.asked[-1]
            return {"rows": rows, **({"sequences": {"public.t": 2}} if sequences else {})}

    probe = Probe()
    watch = LeftoverWatch()
    watch.probes["postgres"] = probe
    assert watch._measure(sequences=False) == {"postgres": {"rows": rows}}
    assert watch._measure() == {"postgres": {"rows": rows}}  # steps since the skip: dropped
    assert watch._measure() == {"postgres": {"rows": rows, "sequences": {"public.t": 2}}}
    assert probe.asked == [False, True, True]


def test_a_snapshots_baseline_is_used_only_for_the_container_handed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stability.containers import leftover_watch
    from stability.containers.leftover_watch import LeftoverWatch

    class Probe:
        method = "logical decoding"  # as a PostgreSQL probe says how it measures

        def __init__(self, url: str, baseline: str | None) -> None:
            self.url, self.baseline, self.closed = url, baseline, False

        def close(self) -> None:
            self.closed = True

    opened: list[Probe] = []

    def open_probe(name: str, url: str, baseline: str | None = None) -> Probe:
        if "down" in url:
            raise ConnectionError("refused")
        opened.append(Probe(url, baseline))
        return opened[-1]

    monkeypatch.setattr(leftover_watch, "_open_probe", open_probe)
    watch = LeftoverWatch()
    # Opened ahead (while pytest collects) with the image's baseline...
    watch.expect({"postgres": ("postgresql://pooled", "encoded")})
    watch.attach("postgres", "postgresql://its-own")  # ...but the fixture started another
    assert [(p.url, p.baseline, p.closed) for p in opened] == [
        ("postgresql://pooled", "encoded", True),  # not used: closed
        ("postgresql://its-own", None, False),  # read, not taken from another container
    ]
    watch.expect({"redis": ("redis://pooled", None)})
    watch.attach("redis", "redis://pooled")
    assert watch.probes["redis"] is opened[2] and len(opened) == 3  # the one opened ahead
    watch.probes.clear()
    watch.expect({"postgres": ("postgresql://pooled", "encoded")})
    watch.attach("postgres", "postgresql://pooled")
    assert watch.probes["postgres"] is opened[3] and opened[3].baseline == "encoded"
    # A probe that could not open ahead is said once, as one opened on the spot would be.
    watch.probes.clear()
    watch.expect({"redis": ("redis://down", None)})
    watch.attach("redis", "redis://down")
    assert watch.problems == ["redis: ConnectionError: refused"] and "redis" not in watch.probes
    # One no test asked for closes with the session.
    watch.expect({"redis": ("redis://pooled", None)})
    watch.pytest_unconfigure()
    assert opened[-1].url == "redis://pooled" and opened[-1].closed


def test_a_baseline_survives_its_label_and_a_foreign_label_is_none() -> None:
    from stability.containers import pg_baseline
    from stability.containers.pg_baseline import Baseline

    baseline = Baseline(
        counts={'public."Odd Name"': 3, "public.t": 0},
        catalog=["table public.t", "sequence public.t_id_seq", "function public.f(integer)"],
        sequence_values=[[16390, None], [16400, 12]],
        sequence_names=[[16390, "public.t_id_seq", 1, 1], [16400, "public.s", 10, -2]],
    )
    label = pg_baseline.encode(baseline)
    assert label and label.isascii() and "=" not in label and " " not in label
    assert pg_baseline.decode(label) == baseline
    for foreign in (None, "", "not-base64!", "eyJhIjogMX0", pg_baseline.encode(baseline)[:-8]):
        assert pg_baseline.decode(foreign) is None
    huge = Baseline({f"public.t{i}": i for i in range(40_000)}, [], [], [])
    assert pg_baseline.encode(huge) == ""  # too long for a label: the probe reads itself


def test_window_answers_read_as_text_parse_as_psycopg_loads_them() -> None:
    from stability.containers.pg_window import bigint_pairs, bigints

    assert bigints("{}") == [] and bigints(None) == []
    assert bigints("{731,4294967299}") == [731, 4294967299]
    assert bigint_pairs(None) is None  # array_agg over no sequence
    assert bigint_pairs("{{16390,1},{16402,NULL}}") == [[16390, 1], [16402, None]]
    assert bigint_pairs("{{16390,-5}}") == [[16390, -5]]
