"""What every service's alembic ``env.py`` runs: migrate with the engine given."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData


def run(target_metadata: MetaData) -> None:
    cfg = context.config
    engine = cfg.attributes["engine"]
    version_table = cfg.attributes["version_table"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table,
            render_as_batch=True,
            compare_type=True,
            # each service migrates only its own tables in a shared database
            include_name=lambda name, type_, _parent: (
                type_ != "table" or name in target_metadata.tables),
        )
        with context.begin_transaction():
            context.run_migrations()
