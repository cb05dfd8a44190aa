"""Tests of the billing package (issue 9)."""
