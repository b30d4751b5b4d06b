"""The evaluation protocol: named protocols, evaluation sets, replications, and ``results.json``."""

from mogen_bench.evaluation.evaluate import EvaluationJob, evaluate
from mogen_bench.evaluation.protocols import PROTOCOLS, Protocol, get_protocol
from mogen_bench.evaluation.results import RESULTS_FILE, read_results, record_result

__all__ = [
    "PROTOCOLS",
    "RESULTS_FILE",
    "EvaluationJob",
    "Protocol",
    "evaluate",
    "get_protocol",
    "read_results",
    "record_result",
]
