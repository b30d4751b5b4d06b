"""Presets of PriorMDM (TOML): ``evaluation`` (PriorMDM's evaluation settings), ``code_defaults`` (the
released code's argument defaults) and ``tiny`` (MoGen-Synth on a CPU). None trains: ``max_steps = 0``."""
