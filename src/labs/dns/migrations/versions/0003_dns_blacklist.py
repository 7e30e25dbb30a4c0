"""dns blacklist: zone names only admins may take (Designate's blacklists)

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
    op.create_table('dns_blacklist',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('pattern', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=160), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_blacklist')),
    sa.UniqueConstraint('pattern', name=op.f('uq_dns_blacklist_pattern'))
    )


def downgrade() -> None:
    op.drop_table('dns_blacklist')
