"""Shared test configuration. Kept free of torch: tests/test_export.py also runs in
a Python >= 3.12 environment that has ArviZ >= 1.0 and no torch."""
