"""RelateCRM benchmark harness: ``python -m bench --help``."""
