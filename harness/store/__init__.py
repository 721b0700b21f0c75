"""The results store: SQLite, one row per run and one per finished sample."""
