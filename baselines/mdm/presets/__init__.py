"""Presets of MDM (TOML): ``paper`` (the published size and settings) and ``tiny`` (minutes on a CPU)."""
