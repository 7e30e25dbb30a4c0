"""several networks per project; subnets as rows

Revision ID: 0004
Revises: 0002

A project may hold several networks (no unique project or CIDR any more); each has
Neutron's attributes (description, shared, admin_state_up, mtu, revision_number,
updated_at) and the one the cloud made on the project's first VM is marked
(``default_of_project``: every network before this revision). A network's range moves
to the new ``subnet`` table: each existing network gets one subnet whose id is the one
the API showed before (uuid5 of the network id), its pool every host address past the
gateway, and each fixed IP names its subnet and (while held) the project of the instance
holding it (on a shared network, another than the network's).
"""

import ipaddress
import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

WHEN = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')
#: labs.network.topology.ID_NAMESPACE (copied: a migration does not import the code).
ID_NAMESPACE = uuid.UUID("5f0b8e8c-2d1c-4f63-9a55-6c1d1c3f6a15")


def _subnet_id_of(network_id: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"subnet:{network_id}"))


def _rows(query: str) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in op.get_bind().execute(sa.text(query))]


def _create_subnet_table() -> sa.Table:
    table = op.create_table(
        'subnet',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('network_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('ip_version', sa.Integer(), nullable=False),
        sa.Column('cidr', sa.String(length=64), nullable=False),
        sa.Column('gateway_ip', sa.String(length=64), nullable=True),
        sa.Column('allocation_pools', sa.JSON(), nullable=False),
        sa.Column('dns_nameservers', sa.JSON(), nullable=False),
        sa.Column('host_routes', sa.JSON(), nullable=False),
        sa.Column('enable_dhcp', sa.Boolean(), nullable=False),
        sa.Column('revision_number', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subnet')))
    with op.batch_alter_table('subnet', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subnet_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subnet_project_id'), ['project_id'], unique=False)
    return table


def upgrade() -> None:
    old = sa.table('network', sa.column('id'), sa.column('project_id'), sa.column('label'),
                   sa.column('cidr'), sa.column('gateway'), sa.column('created_at', WHEN))
    networks = [dict(r._mapping) for r in op.get_bind().execute(
        sa.select(old).order_by(old.c.id))]
    subnets = _create_subnet_table()
    with op.batch_alter_table('network', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('shared', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('admin_state_up', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('mtu', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('default_of_project', sa.String(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column('revision_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', WHEN, nullable=True))
    with op.batch_alter_table('fixed_ip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subnet_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('project_id', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    bind.execute(sa.text(
        "UPDATE network SET description = '', shared = :f, admin_state_up = :t, mtu = 1500,"
        " default_of_project = project_id, revision_number = 0, updated_at = created_at"),
        {"f": False, "t": True})
    op.bulk_insert(subnets, [_subnet_of(net) for net in networks])
    for net in networks:
        bind.execute(sa.text("UPDATE fixed_ip SET subnet_id = :s WHERE network_id = :n"),
                     {"s": _subnet_id_of(net['id']), "n": net['id']})
        bind.execute(sa.text("UPDATE fixed_ip SET project_id = :p WHERE network_id = :n "
                             "AND instance_id IS NOT NULL"),
                     {"p": net['project_id'], "n": net['id']})
    with op.batch_alter_table('network', schema=None) as batch_op:
        for name in ('description', 'shared', 'admin_state_up', 'mtu', 'revision_number',
                     'updated_at'):
            batch_op.alter_column(name, existing_type=_network_type(name), nullable=False)
        batch_op.drop_constraint('uq_network_project_id', type_='unique')
        batch_op.drop_constraint('uq_network_cidr', type_='unique')
        batch_op.drop_column('cidr')
        batch_op.drop_column('gateway')
        batch_op.create_unique_constraint(batch_op.f('uq_network_default_of_project'),
                                          ['default_of_project'])
        batch_op.create_index(batch_op.f('ix_network_project_id'), ['project_id'],
                              unique=False)
    with op.batch_alter_table('fixed_ip', schema=None) as batch_op:
        batch_op.alter_column('subnet_id', existing_type=sa.String(length=36),
                              nullable=False)
        batch_op.create_index(batch_op.f('ix_fixed_ip_subnet_id'), ['subnet_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_fixed_ip_project_id'), ['project_id'],
                              unique=False)


def _network_type(name: str) -> Any:
    return {'description': sa.String(length=255), 'shared': sa.Boolean(),
            'admin_state_up': sa.Boolean(), 'mtu': sa.Integer(),
            'revision_number': sa.Integer(), 'updated_at': WHEN}[name]


def _subnet_of(net: dict[str, Any]) -> dict[str, Any]:
    """A pre-subnet network's range as its subnet: every host address past the gateway
    (the first) is in its pool, as the fixed IPs were made."""
    hosts = list(ipaddress.IPv4Network(net['cidr']).hosts())
    return {'id': _subnet_id_of(net['id']), 'network_id': net['id'],
            'project_id': net['project_id'], 'name': f"{net['label']}-subnet",
            'description': '', 'ip_version': 4, 'cidr': net['cidr'],
            'gateway_ip': net['gateway'],
            'allocation_pools': [{'start': str(hosts[1]), 'end': str(hosts[-1])}],
            'dns_nameservers': [], 'host_routes': [], 'enable_dhcp': True,
            'revision_number': 0, 'created_at': net['created_at'],
            'updated_at': net['created_at']}


def downgrade() -> None:
    """Back to one network per project: each project keeps its default network (or, if
    it has none, its oldest with a subnet) with its subnet's range; other networks, their
    subnets and addresses are dropped."""
    subnets = {s['network_id']: s for s in _rows("SELECT * FROM subnet ORDER BY created_at")}
    kept: dict[str, dict[str, Any]] = {}
    for net in _rows("SELECT * FROM network ORDER BY created_at, id"):
        if net['id'] in subnets and (net['project_id'] not in kept
                                     or net['default_of_project'] is not None):
            kept[net['project_id']] = net
    keep_ids = {net['id'] for net in kept.values()}
    bind = op.get_bind()
    for net in _rows("SELECT id FROM network"):
        if net['id'] not in keep_ids:
            bind.execute(sa.text("DELETE FROM fixed_ip WHERE network_id = :n"), {"n": net['id']})
            bind.execute(sa.text("DELETE FROM network WHERE id = :n"), {"n": net['id']})
    with op.batch_alter_table('fixed_ip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fixed_ip_project_id'))
        batch_op.drop_index(batch_op.f('ix_fixed_ip_subnet_id'))
        batch_op.drop_column('project_id')
        batch_op.drop_column('subnet_id')
    with op.batch_alter_table('network', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cidr', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('gateway', sa.String(length=64), nullable=True))
    for net_id in keep_ids:
        sub = subnets[net_id]
        bind.execute(sa.text("UPDATE network SET cidr = :c, gateway = :g WHERE id = :n"),
                     {"c": sub['cidr'], "g": sub['gateway_ip'] or sub['cidr'].split('/')[0],
                      "n": net_id})
    with op.batch_alter_table('network', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_network_project_id'))
        batch_op.drop_constraint(batch_op.f('uq_network_default_of_project'), type_='unique')
        for name in ('description', 'shared', 'admin_state_up', 'mtu', 'default_of_project',
                     'revision_number', 'updated_at'):
            batch_op.drop_column(name)
        batch_op.alter_column('cidr', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('gateway', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_network_cidr'), ['cidr'])
        batch_op.create_unique_constraint(batch_op.f('uq_network_project_id'), ['project_id'])
    with op.batch_alter_table('subnet', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subnet_project_id'))
        batch_op.drop_index(batch_op.f('ix_subnet_network_id'))
    op.drop_table('subnet')
