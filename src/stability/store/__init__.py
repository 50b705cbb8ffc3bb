"""The DuckDB history: schema and migrations, ingest (runner), queries (analysis)."""
