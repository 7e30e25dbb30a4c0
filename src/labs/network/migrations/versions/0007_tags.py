"""tags on the network's resources; floating IPs' revision numbers

Revision ID: 0007
Revises: 0004

``resource_tag`` holds Neutron's ``standard-attr-tag`` tags: the resource's collection
(``networks``, ``subnets``, ``floatingips``, ``security-groups``), its API id and the
tag. Floating IPs get the ``revision_number`` the other resources have (0 for every
existing one).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

EXACT = sa.String(255).with_variant(mysql.VARCHAR(255, collation="utf8mb4_nopad_bin"),
                                    "mysql")


def upgrade() -> None:
    op.create_table(
        'resource_tag',
        sa.Column('resource_type', sa.String(length=32), nullable=False),
        sa.Column('resource_id', sa.String(length=64), nullable=False),
        sa.Column('tag', EXACT, nullable=False),
        sa.PrimaryKeyConstraint('resource_type', 'resource_id', 'tag',
                                name=op.f('pk_resource_tag')))
    with op.batch_alter_table('floating_ip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision_number', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('floating_ip', schema=None) as batch_op:
        batch_op.alter_column('revision_number', existing_type=sa.Integer(),
                              existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('floating_ip', schema=None) as batch_op:
        batch_op.drop_column('revision_number')
    op.drop_table('resource_tag')
