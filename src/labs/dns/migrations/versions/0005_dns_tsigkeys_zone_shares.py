"""dns tsigkeys and zone shares (Designate's tsigkeys and shared zones)

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

DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('dns_tsigkey',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('algorithm', sa.String(length=32), nullable=False),
    sa.Column('secret', sa.String(length=255), nullable=False),
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', DATETIME, nullable=False),
    sa.Column('updated_at', DATETIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_tsigkey')),
    sa.UniqueConstraint('name', name=op.f('uq_dns_tsigkey_name'))
    )
    op.create_table('dns_zone_share',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('zone_id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('target_project_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', DATETIME, nullable=False),
    sa.Column('updated_at', DATETIME, nullable=True),
    sa.ForeignKeyConstraint(['zone_id'], ['dns_zone.id'], name=op.f('fk_dns_zone_share_zone_id_dns_zone'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_zone_share')),
    sa.UniqueConstraint('zone_id', 'target_project_id', name=op.f('uq_dns_zone_share_zone_id_target_project_id'))
    )
    op.create_index(op.f('ix_dns_zone_share_target_project_id'), 'dns_zone_share', ['target_project_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dns_zone_share_target_project_id'), table_name='dns_zone_share')
    op.drop_table('dns_zone_share')
    op.drop_table('dns_tsigkey')
