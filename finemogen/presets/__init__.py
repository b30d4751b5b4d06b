"""Presets of FineMoGen (TOML): ``paper`` (the released configuration) and ``tiny`` (minutes on a CPU)."""
