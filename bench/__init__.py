"""Benchmarks (DESIGN.md §7): standalone scripts, run as `.venv/bin/python bench/<name>.py`."""
