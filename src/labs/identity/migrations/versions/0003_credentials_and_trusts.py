"""credentials (encrypted blobs) and trusts

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

_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('credential',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('type', sa.String(length=255), nullable=False),
    sa.Column('encrypted_blob', sa.Text(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_credential_user_id_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credential'))
    )
    with op.batch_alter_table('credential', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credential_user_id'), ['user_id'], unique=False)

    op.create_table('trust',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('trustor_user_id', sa.String(length=64), nullable=False),
    sa.Column('trustee_user_id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('impersonation', sa.Boolean(), nullable=False),
    sa.Column('expires_at', _TIME, nullable=True),
    sa.Column('remaining_uses', sa.Integer(), nullable=True),
    sa.Column('allow_redelegation', sa.Boolean(), nullable=False),
    sa.Column('redelegation_count', sa.Integer(), nullable=True),
    sa.Column('redelegated_trust_id', sa.String(length=64), nullable=True),
    sa.Column('role_ids', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['trustee_user_id'], ['user.id'],
                            name=op.f('fk_trust_trustee_user_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trustor_user_id'], ['user.id'],
                            name=op.f('fk_trust_trustor_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trust'))
    )
    with op.batch_alter_table('trust', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trust_trustee_user_id'), ['trustee_user_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_trust_trustor_user_id'), ['trustor_user_id'],
                              unique=False)


def downgrade() -> None:
    op.drop_table('trust')
    op.drop_table('credential')
