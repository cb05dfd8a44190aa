"""Regenerate conf/aaad.example.toml from the config sections' docs."""
from pathlib import Path

from aaad import app, config

HEADER = '''# aaad configuration. Every key is shown with its default, commented out.
# Copy to /etc/aaad/aaad.toml (or anywhere) and run: aaad -c PATH serve
# Any key can be overridden from the environment: AAAD_<SECTION>__<KEY>=value,
# e.g. AAAD_RADIUS__AUTH_PORT=11812 or AAAD_DATABASE__URL=postgresql+psycopg://aaad@db/aaad
# (values are read as TOML: numbers, true/false, "strings"; a bare word is a string).
# Regenerate with: .venv/bin/python scripts/gen-example-config.py
'''

out = Path(__file__).resolve().parents[1] / "conf" / "aaad.example.toml"
out.write_text(HEADER + "\n" + config.document(app.schema()))
print(f"wrote {out}")
