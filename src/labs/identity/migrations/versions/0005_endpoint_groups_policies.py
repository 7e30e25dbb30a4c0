"""endpoint groups (OS-EP-FILTER) and policy blobs

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=255), nullable=False),
    sa.Column('blob', sa.Text(), nullable=False),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy'))
    )
    op.create_table('endpoint_group',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_endpoint_group'))
    )
    op.create_table('project_endpoint_group',
    sa.Column('endpoint_group_id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['endpoint_group_id'], ['endpoint_group.id'], name=op.f('fk_project_endpoint_group_endpoint_group_id_endpoint_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('endpoint_group_id', 'project_id', name=op.f('pk_project_endpoint_group'))
    )


def downgrade() -> None:
    op.drop_table('project_endpoint_group')
    op.drop_table('endpoint_group')
    op.drop_table('policy')
