"""moves: the migration record of resizes and migrations; a server's access IPs,
system metadata and the flavors of a resize

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_ip_v4', sa.String(39), nullable=True))
        batch_op.add_column(sa.Column('access_ip_v6', sa.String(39), nullable=True))
        batch_op.add_column(sa.Column('system_metadata', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('old_flavor', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('new_flavor', sa.JSON(), nullable=True))
    op.create_table(
        'migration',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('uuid', sa.String(64), nullable=False),
        sa.Column('instance_id', sa.String(64), nullable=False),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('user_id', sa.String(64), nullable=False),
        sa.Column('migration_type', sa.String(32), nullable=False),
        sa.Column('status', sa.String(32), nullable=False),
        sa.Column('source_compute', sa.String(255), nullable=True),
        sa.Column('source_node', sa.String(255), nullable=True),
        sa.Column('dest_compute', sa.String(255), nullable=True),
        sa.Column('dest_node', sa.String(255), nullable=True),
        sa.Column('dest_host', sa.String(255), nullable=True),
        sa.Column('old_flavor_id', sa.String(64), nullable=True),
        sa.Column('new_flavor_id', sa.String(64), nullable=True),
        sa.Column('memory_total', sa.BigInteger(), nullable=True),
        sa.Column('memory_processed', sa.BigInteger(), nullable=True),
        sa.Column('memory_remaining', sa.BigInteger(), nullable=True),
        sa.Column('disk_total', sa.BigInteger(), nullable=True),
        sa.Column('disk_processed', sa.BigInteger(), nullable=True),
        sa.Column('disk_remaining', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
        sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uuid'),
    )
    with op.batch_alter_table('migration', schema=None) as batch_op:
        batch_op.create_index('ix_migration_instance_id', ['instance_id'], unique=False)
        batch_op.create_index('ix_migration_status', ['status'], unique=False)
        batch_op.create_index('ix_migration_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('migration')
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.drop_column('new_flavor')
        batch_op.drop_column('old_flavor')
        batch_op.drop_column('system_metadata')
        batch_op.drop_column('access_ip_v6')
        batch_op.drop_column('access_ip_v4')
