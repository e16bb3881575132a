"""Shared test configuration. Kept free of torch: tests/test_export.py also runs in
a Python >= 3.12 environment that has ArviZ >= 1.0 and no torch.

The hypothesis profile ``ci`` (loaded by default; ``--hypothesis-profile=dev`` for random
examples) is derandomized: the property tests (tests/test_properties.py) run the same
examples on every run, each test with its own fixed ``max_examples``."""

try:
    from hypothesis import settings
except ImportError:  # the export-only environment has no hypothesis
    settings = None

if settings is not None:
    settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None,
                              print_blob=True)
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.load_profile("ci")
