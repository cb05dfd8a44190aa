"""Alembic environment: batch mode on SQLite, the listed packages' tables in one MetaData."""
import importlib

from alembic import context

from aaad import migrate
from aaad.db import metadata

config = context.config
# Every listed package's tables, on the one MetaData (autogenerate compares them).
for name in config.attributes.get("packages", migrate.PACKAGES):
    importlib.import_module(name + ".schema")

engine = config.attributes.get("engine")
if engine is None:  # `alembic` command line: url from -x url=...
    from aaad.db import sync_engine
    engine = sync_engine(context.get_x_argument(as_dictionary=True)["url"])

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    context.run_migrations()
