"""How the runner tells a repetition's pytest which order to run in (read by
`runner.ordering`, the plugin side). Apart so the runner needs no pytest import."""

SEED_ENV = "STABILITY_SHUFFLE_SEED"
IN_PROCESS_ENV = "STABILITY_IN_PROCESS"
SEED_LIMIT = 2**32
