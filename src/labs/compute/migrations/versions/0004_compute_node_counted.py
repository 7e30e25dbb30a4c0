"""compute node memory: the instances an agent's available memory accounts for

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_node', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counted_instances', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('counted_memory_mb', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_node', schema=None) as batch_op:
        batch_op.drop_column('counted_memory_mb')
        batch_op.drop_column('counted_instances')
