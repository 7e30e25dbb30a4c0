"""ports as rows

Revision ID: 0006
Revises: 0004

A port gets a row of its own (``port``) and a fixed IP names the port holding it
(``port_id``; free: none). Every address held by an instance becomes a port with the
id the API showed before (uuid5 of the instance id), owned by ``compute:nova``, ACTIVE,
made by compute (``auto_delete``: deleted with its server). Going down, ports made
through the API give their addresses back; those of instances stay held by them.
"""

import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

WHEN = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')
#: labs.network.topology.ID_NAMESPACE (copied: a migration does not import the code).
ID_NAMESPACE = uuid.UUID("5f0b8e8c-2d1c-4f63-9a55-6c1d1c3f6a15")


def _port_id_of(instance_id: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"port:{instance_id}"))


def _create_port_table() -> sa.Table:
    table = op.create_table(
        'port',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('network_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('mac_address', sa.String(length=32), nullable=False),
        sa.Column('device_id', sa.String(length=255), nullable=False),
        sa.Column('device_owner', sa.String(length=255), nullable=False),
        sa.Column('admin_state_up', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('port_security_enabled', sa.Boolean(), nullable=False),
        sa.Column('security_groups', sa.JSON(), nullable=False),
        sa.Column('allowed_address_pairs', sa.JSON(), nullable=False),
        sa.Column('binding_host_id', sa.String(length=255), nullable=False),
        sa.Column('auto_delete', sa.Boolean(), nullable=False),
        sa.Column('revision_number', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_port')),
        sa.UniqueConstraint('network_id', 'mac_address',
                            name=op.f('uq_port_network_id_mac_address')))
    with op.batch_alter_table('port', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_port_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_port_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_port_project_id'), ['project_id'], unique=False)
    return table


def _held() -> list[dict[str, Any]]:
    fixed = sa.table('fixed_ip', sa.column('id'), sa.column('network_id'),
                     sa.column('instance_id'), sa.column('project_id'), sa.column('mac'))
    net = sa.table('network', sa.column('id'), sa.column('project_id'),
                   sa.column('created_at', WHEN))
    query = (sa.select(fixed, net.c.project_id.label('net_project'), net.c.created_at)
             .join(net, net.c.id == fixed.c.network_id)
             .where(fixed.c.instance_id.is_not(None)).order_by(fixed.c.id))
    return [dict(row._mapping) for row in op.get_bind().execute(query)]


def upgrade() -> None:
    held = _held()
    ports = _create_port_table()
    with op.batch_alter_table('fixed_ip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('port_id', sa.String(length=36), nullable=True))
        batch_op.drop_index('ix_fixed_ip_network_free')
        batch_op.create_index('ix_fixed_ip_network_free', ['network_id', 'port_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_fixed_ip_port_id'), ['port_id'], unique=False)
    rows = [{'id': _port_id_of(f['instance_id']), 'network_id': f['network_id'],
             'project_id': f['project_id'] or f['net_project'], 'name': '',
             'description': '', 'mac_address': f['mac'] or _mac_of(f['instance_id']),
             'device_id': f['instance_id'], 'device_owner': 'compute:nova',
             'admin_state_up': True, 'status': 'ACTIVE', 'port_security_enabled': True,
             'security_groups': [], 'allowed_address_pairs': [], 'binding_host_id': '',
             'auto_delete': True, 'revision_number': 0, 'created_at': f['created_at'],
             'updated_at': f['created_at']} for f in held]
    if rows:
        op.bulk_insert(ports, rows)
    bind = op.get_bind()
    for f, port in zip(held, rows, strict=True):
        bind.execute(sa.text("UPDATE fixed_ip SET port_id = :p, mac = :m WHERE id = :i"),
                     {"p": port['id'], "m": port['mac_address'], "i": f['id']})


def _mac_of(instance_id: str) -> str:
    """labs.network.fixed_ips.mac_for, for an address held without a MAC."""
    try:
        tail = uuid.UUID(instance_id).bytes[-3:]
    except ValueError:
        tail = uuid.uuid5(uuid.NAMESPACE_OID, instance_id).bytes[-3:]
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in tail)


def downgrade() -> None:
    """Addresses held by ports of no instance are given back."""
    op.get_bind().execute(sa.text(
        "UPDATE fixed_ip SET project_id = NULL, mac = NULL WHERE instance_id IS NULL"))
    with op.batch_alter_table('fixed_ip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fixed_ip_port_id'))
        batch_op.drop_index('ix_fixed_ip_network_free')
        batch_op.create_index('ix_fixed_ip_network_free', ['network_id', 'instance_id'],
                              unique=False)
        batch_op.drop_column('port_id')
    with op.batch_alter_table('port', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_port_project_id'))
        batch_op.drop_index(batch_op.f('ix_port_network_id'))
        batch_op.drop_index(batch_op.f('ix_port_device_id'))
    op.drop_table('port')
