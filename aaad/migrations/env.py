"""Alembic environment: batch mode on SQLite, all packages' tables in one MetaData."""
from alembic import context

# Every package's tables, on the one MetaData (migrations may import any layer).
import aaad.schema  # noqa: F401
import accounting.schema  # noqa: F401
from aaad.db import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` command line: url from -x url=...
    from aaad.db import sync_engine
    engine = sync_engine(context.get_x_argument(as_dictionary=True)["url"])

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    context.run_migrations()
