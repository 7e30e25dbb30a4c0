"""routers and their interfaces

Revision ID: 0005
Revises: 0004

Neutron's routers: ``router`` (a project's router, with a gateway on the external network
holding an address of the public range) and ``router_interface`` (a subnet joined to a
router). Every network that has an uplink address (``network.external_ip``) gets a router
of its own holding that address, with its subnets attached: one router per network, not
per project, so that a project's networks stay apart as they were (a router joins the
networks it holds) and each keeps the outbound address it had.
"""

import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

WHEN = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')
#: labs.network.topology.ID_NAMESPACE (copied: a migration does not import the code).
ID_NAMESPACE = uuid.UUID("5f0b8e8c-2d1c-4f63-9a55-6c1d1c3f6a15")


def router_id_of(network_id: str) -> str:
    """labs.network.routers.auto_router_id (copied)."""
    return str(uuid.uuid5(ID_NAMESPACE, f"router:{network_id}"))


def interface_id_of(subnet_id: str) -> str:
    """labs.network.routers.auto_interface_id (copied)."""
    return str(uuid.uuid5(ID_NAMESPACE, f"router-interface:{subnet_id}"))


def _rows(table: sa.TableClause) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in op.get_bind().execute(
        sa.select(table).order_by(table.c.id))]


def _create_tables() -> tuple[sa.Table, sa.Table]:
    routers = op.create_table(
        'router',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('admin_state_up', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('external_gateway', sa.Boolean(), nullable=False),
        sa.Column('external_ip', sa.String(length=64), nullable=True),
        sa.Column('enable_snat', sa.Boolean(), nullable=False),
        sa.Column('revision_number', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_router')),
        sa.UniqueConstraint('external_ip', name=op.f('uq_router_external_ip')))
    with op.batch_alter_table('router', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_router_project_id'), ['project_id'], unique=False)
    interfaces = op.create_table(
        'router_interface',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('router_id', sa.String(length=36), nullable=False),
        sa.Column('subnet_id', sa.String(length=36), nullable=False),
        sa.Column('network_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['router_id'], ['router.id'],
                                name=op.f('fk_router_interface_router_id_router'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_router_interface')),
        sa.UniqueConstraint('subnet_id', name=op.f('uq_router_interface_subnet_id')))
    with op.batch_alter_table('router_interface', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_router_interface_network_id'), ['network_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_router_interface_router_id'), ['router_id'],
                              unique=False)
    return routers, interfaces


def upgrade() -> None:
    routers, interfaces = _create_tables()
    networks = [net for net in _rows(sa.table(
        'network', sa.column('id'), sa.column('project_id'), sa.column('label'),
        sa.column('external_ip'), sa.column('created_at', WHEN))) if net['external_ip']]
    subnets = _rows(sa.table('subnet', sa.column('id'), sa.column('network_id'),
                             sa.column('created_at', WHEN)))
    op.bulk_insert(routers, [
        {'id': router_id_of(net['id']), 'project_id': net['project_id'],
         'name': f"{net['label']}-router", 'description': '', 'admin_state_up': True,
         'status': 'ACTIVE', 'external_gateway': True, 'external_ip': net['external_ip'],
         'enable_snat': True, 'revision_number': 0, 'created_at': net['created_at'],
         'updated_at': net['created_at']} for net in networks])
    routed = {net['id'] for net in networks}
    op.bulk_insert(interfaces, [
        {'id': interface_id_of(sub['id']), 'router_id': router_id_of(sub['network_id']),
         'subnet_id': sub['id'], 'network_id': sub['network_id'],
         'created_at': sub['created_at']} for sub in subnets if sub['network_id'] in routed])


def downgrade() -> None:
    """The networks keep their uplink addresses (``network.external_ip``): only the
    routers go."""
    op.drop_table('router_interface')  # its indexes and key go with it
    op.drop_table('router')
