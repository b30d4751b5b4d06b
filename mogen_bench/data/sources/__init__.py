"""One module per published dataset layout; each builds a ``mogen_bench.data.source.Source``."""
