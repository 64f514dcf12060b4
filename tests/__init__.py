"""The test suite, a package so that ``tests.harness`` is importable from bench/ as well
(``python -m bench.<name>`` from the repository root) and pytest imports every test module
by its full name (``tests.test_...``, ``tests.faults.test_...``)."""
