"""Presets of the contrastive evaluator (TOML): ``default`` (TMR-sized) and ``tiny`` (a CPU in minutes)."""
