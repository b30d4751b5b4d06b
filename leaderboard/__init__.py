"""Leaderboard: the results schema, published reference numbers, tables, plots and the report.

Not built yet: it arrives with its own issue; until then the package only reserves the name.
"""
