"""dns project lock: zone creates of one project take turns on the zone quota

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dns_project_lock',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_dns_project_lock'))
    )


def downgrade() -> None:
    op.drop_table('dns_project_lock')
