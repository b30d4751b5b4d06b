"""Prepared datasets: the Parquet contract, the sources that produce it, its readers."""
