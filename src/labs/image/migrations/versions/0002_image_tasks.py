"""image tasks (interoperable import)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

MICRO = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('image_task',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('image_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('input', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', MICRO, nullable=False),
    sa.Column('updated_at', MICRO, nullable=False),
    sa.Column('expires_at', MICRO, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_task'))
    )
    with op.batch_alter_table('image_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_task_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_image_task_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_image_task_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('image_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_task_status'))
        batch_op.drop_index(batch_op.f('ix_image_task_owner'))
        batch_op.drop_index(batch_op.f('ix_image_task_image_id'))
    op.drop_table('image_task')
