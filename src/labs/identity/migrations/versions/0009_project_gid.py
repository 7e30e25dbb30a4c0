"""projects' POSIX groups: a gid per project from the accounts' ledger

Revision ID: 0009
Revises: 0008

A project's gid is a ``posix_allocation`` row of its own (``project_id`` set, no shell
name, no user), so it comes from the same numbers as the accounts' uid and gid and is
never handed out again. Projects made before this revision get theirs here, in the
order they sort by id.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

SHELL_NAME = sa.String(length=32).with_variant(
    mysql.VARCHAR(32, collation='utf8mb4_nopad_bin'), 'mysql')
MICRO = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    with op.batch_alter_table('posix_allocation',
                              table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.alter_column('shell_name', existing_type=SHELL_NAME, nullable=True)
        batch.alter_column('user_id', existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column('project_id', sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f('uq_posix_allocation_project_id'), ['project_id'])
    project = sa.table('project', sa.column('id', sa.String))
    ledger = sa.table('posix_allocation', sa.column('project_id', sa.String),
                      sa.column('created_at', MICRO))
    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    for (project_id,) in bind.execute(sa.select(project.c.id).order_by(project.c.id)).all():
        bind.execute(sa.insert(ledger).values(project_id=project_id, created_at=now))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM posix_allocation WHERE project_id IS NOT NULL"))
    with op.batch_alter_table('posix_allocation',
                              table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_constraint(op.f('uq_posix_allocation_project_id'), type_='unique')
        batch.drop_column('project_id')
        batch.alter_column('user_id', existing_type=sa.String(length=64), nullable=False)
        batch.alter_column('shell_name', existing_type=SHELL_NAME, nullable=False)
