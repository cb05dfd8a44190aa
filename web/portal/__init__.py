"""The customer portal under /{org}/portal/ (HTML pages)."""
