"""req_plugins: label-free representation metrics and multi-view SSL methods for solo-learn and lightly."""

__version__ = "0.1.0"
