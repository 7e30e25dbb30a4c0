"""compute node memory: reserve, per-instance overhead, available memory

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_node', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reserved_memory_mb', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('memory_overhead_mb', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('memory_available_mb', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column(
            'memory_reported_at',
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_node', schema=None) as batch_op:
        batch_op.drop_column('memory_reported_at')
        batch_op.drop_column('memory_available_mb')
        batch_op.drop_column('memory_overhead_mb')
        batch_op.drop_column('reserved_memory_mb')
