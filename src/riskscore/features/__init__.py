"""Point-in-time features: one definition for batch (DuckDB), training snapshots and
online scoring (entity store). See ``catalogue`` for the list and docs/features.md."""
