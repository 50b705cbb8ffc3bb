"""`stability run` and `stability diagnose`: repetitions in fresh pytest processes.

`campaign` schedules repetitions (shards, resume, signals); `repetition` runs one and
turns its records into rows; `recorder` (a pytest plugin) and `results_file` carry each
repetition's results to the runner; `ordering` shuffles and repeats tests in a process;
`diagnose` searches for the polluter of an order-dependent test.

The package imports nothing itself: its recorder loads inside users' pytest processes,
which must not pay for the runner's dependencies (DuckDB).
"""
