"""The warehouse: one DuckDB file plus Parquet, the single data layer behind apps, notebooks and releases."""
