"""``python -m mogen_bench`` runs the command line."""

from mogen_bench.cli import main

if __name__ == "__main__":
    main()
