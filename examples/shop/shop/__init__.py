"""A small shop: catalog and orders on PostgreSQL, a cache on Redis."""
