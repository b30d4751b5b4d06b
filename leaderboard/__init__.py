"""Leaderboard: results.json files in, comparable tables, plots and a static HTML page out.

- ``store``: collect results files into one long table (Parquet), checked, grouped into boards of
  comparable rows (same protocol, dataset, split, evaluator);
- ``published``: reference numbers from papers (FineMoGen Tables 1-3, the HumanML3D state of the art),
  flagged "reported", and the rule that attaches them to boards;
- ``tables``: Markdown, LaTeX, CSV and rich tables; ``plots``: PNG charts; ``html``: the page;
  ``report``: all of them into one folder (``mogen-bench leaderboard report``).

Needs only the results schema: nothing here imports torch or mogen_bench's modules, and the submodules
are imported on use (``from leaderboard import store``), so importing the package costs nothing.
"""
