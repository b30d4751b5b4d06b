"""The project's error type, for mistakes a user can fix; the CLI prints it without a traceback.

Defined in ``annotation.errors`` (the bottom of the import graph) and re-exported here, so there is
exactly one type: ``except MogenBenchError`` catches annotation errors too.
"""

from annotation.errors import AnnotationError, MogenBenchError, Problem

__all__ = ["AnnotationError", "MogenBenchError", "Problem"]
