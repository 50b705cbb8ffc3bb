"""The pure parts of `container_watch`: time spent starting containers, labels, blame.

Its wrapping of the Docker SDK and testcontainers is tested on real containers under
`stability run` in test_tests_own_containers.py.
"""

from __future__ import annotations

import pytest

from stability.containers import labels
from stability.containers.sdk_patch import _with_labels
from stability.containers.watch import Watch, short_name


def test_container_seconds_counts_overlapping_starts_once_within_the_phase() -> None:
    watch = Watch()
    watch.note_interval(10.0, 12.0)
    watch.note_interval(11.0, 13.0)  # in parallel with the first: 10..13 in all
    watch.note_interval(20.0, 21.0)
    assert watch.container_seconds(0.0, 100.0) == pytest.approx(4.0)
    assert watch.container_seconds(12.5, 20.5) == pytest.approx(1.0)  # clipped both sides
    assert watch.container_seconds(13.0, 20.0) == 0.0


def test_a_start_still_in_flight_counts_up_to_the_end_of_the_phase() -> None:
    watch = Watch()
    watch.intervals.append([5.0, None])
    assert watch.container_seconds(4.0, 7.5) == pytest.approx(2.5)


def test_labels_are_added_without_overriding_the_codes_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(labels.SESSION_ENV, "s1")
    monkeypatch.setenv(labels.REPETITION_ENV, "7")
    merged, ours = _with_labels({"app": "x", labels.SESSION: "kept"})
    assert not ours
    assert merged["app"] == "x" and merged[labels.SESSION] == "kept"
    assert merged[labels.REPETITION] == "7" and merged[labels.MANAGED] == "true"
    assert merged[labels.SERVICE] == "tests"
    listed, _ = _with_labels(["flag"])  # the SDK also takes a list of label names
    assert listed["flag"] == "" and listed[labels.REPETITION] == "7"
    _, fixture = _with_labels(labels.container_labels("postgres"))
    assert fixture  # our fixtures' containers say so: their start is recorded elsewhere


def test_a_failed_start_is_blamed_wherever_its_error_is_raised_again() -> None:
    watch = Watch()
    cause = RuntimeError("image not found")
    watch.start_errors.append(cause)
    try:
        raise ValueError("fixture failed") from cause
    except ValueError as exc:
        wrapped = exc
    assert watch.blames_containers("t.py::later", wrapped)  # a cached fixture error
    assert not watch.blames_containers("t.py::other", ValueError("unrelated"))
    watch.trouble["t.py::died"] = ["redis container exited with 137"]
    assert watch.blames_containers("t.py::died", None)


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("postgres:16-alpine", "postgres"),
        ("pytest-stability/redis:7-bookworm", "redis"),
        ("reg.example:5000/lib/pg@sha256:abc", "pg"),
        ("busybox", "busybox"),
    ],
)
def test_short_name(image: str, name: str) -> None:
    assert short_name(image) == name


def test_a_start_that_fails_on_the_codes_own_mistake_is_not_blamed_on_containers() -> None:
    watch = Watch()
    watch.test_started("t.py::x")
    with pytest.raises(TypeError), watch.start("postgres:16", ours=False, waits=True):
        raise TypeError("create() got an unexpected keyword argument 'seed'")
    assert not watch.start_errors and not watch.blames_containers("t.py::x", None)
    with pytest.raises(OSError), watch.start("postgres:16", ours=False, waits=True):
        raise OSError("500 Server Error: pull access denied")
    assert watch.blames_containers("t.py::x", None)
    assert watch.intervals and all(end is not None for _, end in watch.intervals)
