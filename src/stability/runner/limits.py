"""Bounds on what `stability run` accepts (the CLI checks them with its flags' names)."""

MAX_REPEAT = 2**31 - 1  # repetition numbers are 32-bit integers in the history
MAX_JOBS = 256  # repetitions at once, each with its own containers
