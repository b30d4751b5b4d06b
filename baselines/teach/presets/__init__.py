"""Presets of TEACH (TOML): ``paper`` (the released size and settings) and ``tiny`` (minutes on a CPU)."""
