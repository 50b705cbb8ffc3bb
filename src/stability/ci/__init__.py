"""What CI produces and acts on: JUnit XML imported as history, and the quarantine file
(written from verdicts, honoured by the pytest plugin)."""
