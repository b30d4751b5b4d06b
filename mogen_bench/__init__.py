"""mogen-bench: dataset toolkit and benchmark suite for fine-grained text-to-motion generation.

The core package: motion representations, datasets, metrics, evaluators, the training loop and the
``mogen-bench`` command line. Heavy modules are imported lazily so ``mogen-bench --help`` stays fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mogen-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
