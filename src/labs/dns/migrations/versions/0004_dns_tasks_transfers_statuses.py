"""dns tasks, transfers and statuses: zone exports and imports, zone transfer requests
and accepts, the DNS service parts' heartbeats, when a zone was transferred, and the
project a managed record (a floating IP's PTR) was made for

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')


def _task(name: str) -> None:
    op.create_table(name,
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('zone_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=255), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', TIME, nullable=False),
    sa.Column('updated_at', TIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}'))
    )
    op.create_index(op.f(f'ix_{name}_project_id'), name, ['project_id'], unique=False)


def upgrade() -> None:
    op.add_column('dns_zone', sa.Column('transferred_at', TIME, nullable=True))
    op.add_column('dns_record', sa.Column('managed_tenant_id', sa.String(length=64),
                                          nullable=True))
    _task('dns_zone_export')
    _task('dns_zone_import')
    op.create_table('dns_transfer_request',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('zone_id', sa.String(length=64), nullable=False),
    sa.Column('zone_name', sa.String(length=255), nullable=False),
    sa.Column('target_project_id', sa.String(length=64), nullable=True),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=160), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', TIME, nullable=False),
    sa.Column('updated_at', TIME, nullable=True),
    sa.ForeignKeyConstraint(['zone_id'], ['dns_zone.id'],
                            name=op.f('fk_dns_transfer_request_zone_id_dns_zone'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_transfer_request'))
    )
    for column in ('project_id', 'zone_id', 'target_project_id'):
        op.create_index(op.f(f'ix_dns_transfer_request_{column}'), 'dns_transfer_request',
                        [column], unique=False)
    op.create_table('dns_transfer_accept',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('zone_id', sa.String(length=64), nullable=False),
    sa.Column('transfer_request_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', TIME, nullable=False),
    sa.Column('updated_at', TIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_transfer_accept')),
    sa.UniqueConstraint('transfer_request_id',
                        name=op.f('uq_dns_transfer_accept_transfer_request_id'))
    )
    op.create_index(op.f('ix_dns_transfer_accept_project_id'), 'dns_transfer_accept',
                    ['project_id'], unique=False)
    op.create_table('dns_service_status',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('service_name', sa.String(length=64), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.Column('capabilities', sa.JSON(), nullable=False),
    sa.Column('heartbeated_at', TIME, nullable=False),
    sa.Column('created_at', TIME, nullable=False),
    sa.Column('updated_at', TIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dns_service_status')),
    sa.UniqueConstraint('service_name', 'hostname',
                        name=op.f('uq_dns_service_status_service_name_hostname'))
    )


def downgrade() -> None:
    op.drop_table('dns_service_status')
    op.drop_table('dns_transfer_accept')
    op.drop_table('dns_transfer_request')
    op.drop_table('dns_zone_import')
    op.drop_table('dns_zone_export')
    op.drop_column('dns_record', 'managed_tenant_id')
    op.drop_column('dns_zone', 'transferred_at')
