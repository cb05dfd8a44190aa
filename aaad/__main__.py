"""``python -m aaad`` runs the CLI."""
import sys

from aaad.cli import main

sys.exit(main())
