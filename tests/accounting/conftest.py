"""The accounting tests' shared world fixture (defined with its helpers in test_store)."""
from tests.accounting.test_store import w  # noqa: F401  (a pytest fixture, shared)
