"""posix accounts: the allocation ledger, the SQL backend's accounts and ssh keys

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

SHELL_NAME = sa.String(length=32).with_variant(
    mysql.VARCHAR(32, collation='utf8mb4_nopad_bin'), 'mysql')
MICRO = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('posix_allocation',
    sa.Column('number', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('shell_name', SHELL_NAME, nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', MICRO, nullable=False),
    sa.Column('released_at', MICRO, nullable=True),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_posix_allocation')),
    sa.UniqueConstraint('shell_name', name=op.f('uq_posix_allocation_shell_name')),
    sa.UniqueConstraint('user_id', name=op.f('uq_posix_allocation_user_id')),
    sqlite_autoincrement=True
    )
    op.create_table('user_posix',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('shell_name', SHELL_NAME, nullable=False),
    sa.Column('uid_number', sa.Integer(), nullable=False),
    sa.Column('gid_number', sa.Integer(), nullable=False),
    sa.Column('home_directory', sa.String(length=255), nullable=False),
    sa.Column('login_shell', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_user_posix_user_id_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_posix')),
    sa.UniqueConstraint('shell_name', name=op.f('uq_user_posix_shell_name')),
    sa.UniqueConstraint('uid_number', name=op.f('uq_user_posix_uid_number'))
    )
    op.create_table('ssh_key',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('created_at', MICRO, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_ssh_key_user_id_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'fingerprint', name=op.f('pk_ssh_key'))
    )


def downgrade() -> None:
    op.drop_table('ssh_key')
    op.drop_table('user_posix')
    op.drop_table('posix_allocation')
