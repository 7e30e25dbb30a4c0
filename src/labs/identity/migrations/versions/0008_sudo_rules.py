"""projects' sudo rules

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sudo_rule',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('users', sa.JSON(), nullable=False),
    sa.Column('hosts', sa.JSON(), nullable=False),
    sa.Column('commands', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('run_as_users', sa.JSON(), nullable=False),
    sa.Column('run_as_groups', sa.JSON(), nullable=False),
    sa.Column('sudo_order', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_sudo_rule_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'name', name=op.f('pk_sudo_rule'))
    )


def downgrade() -> None:
    op.drop_table('sudo_rule')
