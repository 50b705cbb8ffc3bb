"""Which repetition numbers a run still owes, counted rather than listed."""

from __future__ import annotations


class PendingNumbers:
    """The repetition numbers still to run, without a list of N.

    `start`, `start + step`, ... up to `repeat` (every number, or one shard's share),
    minus `done`. N may be up to 2^31 - 1 (with --until-fail, say): memory stays flat.
    """

    def __init__(
        self,
        repeat: int,
        done: set[int] | frozenset[int] = frozenset(),
        *,
        start: int = 1,
        step: int = 1,
    ) -> None:
        self._start, self._step, self._last, self._done = start, step, repeat, done
        self._next = start
        self._skip()

    def __contains__(self, number: object) -> bool:
        """Whether `number` is one this run owes (done or not)."""
        return (
            isinstance(number, int)
            and self._start <= number <= self._last
            and (number - self._start) % self._step == 0
        )

    @property
    def total(self) -> int:
        """How many numbers this run owes, done ones included."""
        return max((self._last - self._start) // self._step + 1, 0)

    def _skip(self) -> None:
        while self._next <= self._last and self._next in self._done:
            self._next += self._step

    def __bool__(self) -> bool:
        return self._next <= self._last

    def __len__(self) -> int:
        left = max((self._last - self._next) // self._step + 1, 0)
        return left - sum(1 for n in self._done if n >= self._next and n in self)

    def popleft(self) -> int:
        if not self:
            raise IndexError("no repetition left")
        number = self._next
        self._next += self._step
        self._skip()
        return number

    def upcoming(self, count: int) -> list[int]:
        """The next `count` numbers (fewer near the end), without taking them."""
        numbers: list[int] = []
        number = self._next
        while len(numbers) < count and number <= self._last:
            if number not in self._done:
                numbers.append(number)
            number += self._step
        return numbers

    def clear(self) -> None:
        self._next = self._last + 1
