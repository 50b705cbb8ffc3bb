"""The analysis: pure functions from stored rows to rates, intervals and verdicts.

No database and no plotting here (rows in, numbers out), so every number the reports
show can be checked by hand in the tests. `rules` is the one home of the counting rules.
"""
