"""security groups and rules as Neutron's: UUID ids, direction, ethertype, port ranges

Revision ID: 0002
Revises: 0001

The ids change type, so both tables are rebuilt: their rows are read, the tables
dropped and made again, and the rows written back with new ids (the rules' references
follow). Every group also gets Neutron's two allow-all egress rules (IPv4 and IPv6),
which keeps what its members may send: before, a port without egress rules sent
anything. A nova-network ICMP rule's -1 (any type or code) becomes no value.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

EXACT = sa.String(length=255).with_variant(
    mysql.VARCHAR(collation='utf8mb4_nopad_bin', length=255), 'mysql')
WHEN = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql')


def _rows(table: str) -> list[dict[str, Any]]:
    result = op.get_bind().execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
    return [dict(row._mapping) for row in result]


def _drop_old() -> None:
    """Both tables (with their indexes), the rules first: they refer to the groups."""
    op.drop_table('security_group_rule')
    op.drop_table('security_group')


def _create_new() -> tuple[sa.Table, sa.Table]:
    groups = op.create_table(
        'security_group',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('name', EXACT, nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('stateful', sa.Boolean(), nullable=False),
        sa.Column('revision_number', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_security_group')),
        sa.UniqueConstraint('project_id', 'name',
                            name=op.f('uq_security_group_project_id_name')))
    rules = op.create_table(
        'security_group_rule',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('group_id', sa.String(length=36), nullable=False),
        sa.Column('direction', sa.String(length=8), nullable=False),
        sa.Column('ethertype', sa.String(length=4), nullable=False),
        sa.Column('protocol', sa.String(length=16), nullable=True),
        sa.Column('port_range_min', sa.Integer(), nullable=True),
        sa.Column('port_range_max', sa.Integer(), nullable=True),
        sa.Column('remote_ip_prefix', sa.String(length=64), nullable=True),
        sa.Column('remote_group_id', sa.String(length=36), nullable=True),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('revision_number', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ['group_id'], ['security_group.id'],
            name=op.f('fk_security_group_rule_group_id_security_group'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['remote_group_id'], ['security_group.id'],
            name=op.f('fk_security_group_rule_remote_group_id_security_group'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_security_group_rule')))
    with op.batch_alter_table('security_group_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_group_rule_group_id'), ['group_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_security_group_rule_remote_group_id'),
                              ['remote_group_id'], unique=False)
    return groups, rules


def upgrade() -> None:
    old_groups, old_rules = _rows('security_group'), _rows('security_group_rule')
    _drop_old()
    groups, rules = _create_new()
    now = datetime.now(UTC).replace(tzinfo=None)
    ids = {g['id']: str(uuid.uuid4()) for g in old_groups}
    op.bulk_insert(groups, [
        {'id': ids[g['id']], 'project_id': g['project_id'], 'name': g['name'],
         'description': g['description'], 'stateful': True, 'revision_number': 0,
         'created_at': now, 'updated_at': now} for g in old_groups])
    new_rules = []
    for r in old_rules:
        icmp = r['protocol'] == 'icmp'
        low, high = r['from_port'], r['to_port']
        new_rules.append(_rule(
            now, ids[r['group_id']], 'ingress', 'IPv4', protocol=r['protocol'],
            port_range_min=None if icmp and (low is None or low < 0) else low,
            port_range_max=None if icmp and (low is None or low < 0 or high is None
                                             or high < 0) else high,
            remote_ip_prefix=r['cidr'] if r['remote_group_id'] is None else None,
            remote_group_id=ids.get(r['remote_group_id'])))
    for new_id in ids.values():
        new_rules += [_rule(now, new_id, 'egress', 'IPv4'), _rule(now, new_id, 'egress', 'IPv6')]
    op.bulk_insert(rules, new_rules)


def _rule(now: datetime, group_id: str, direction: str, ethertype: str,
          **fields: Any) -> dict[str, Any]:
    row = {'id': str(uuid.uuid4()), 'group_id': group_id, 'direction': direction,
           'ethertype': ethertype, 'protocol': None, 'port_range_min': None,
           'port_range_max': None, 'remote_ip_prefix': None, 'remote_group_id': None,
           'description': '', 'revision_number': 0, 'created_at': now, 'updated_at': now}
    row.update(fields)
    return row


def downgrade() -> None:
    """Back to nova-network's ingress IPv4 rules (egress and IPv6 rules are dropped)."""
    new_groups, new_rules = _rows('security_group'), _rows('security_group_rule')
    _drop_old()
    groups = op.create_table(
        'security_group',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('name', EXACT, nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_security_group')),
        sa.UniqueConstraint('project_id', 'name',
                            name=op.f('uq_security_group_project_id_name')))
    rules = op.create_table(
        'security_group_rule',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('protocol', sa.String(length=8), nullable=True),
        sa.Column('from_port', sa.Integer(), nullable=True),
        sa.Column('to_port', sa.Integer(), nullable=True),
        sa.Column('cidr', sa.String(length=64), nullable=True),
        sa.Column('remote_group_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['group_id'], ['security_group.id'],
            name=op.f('fk_security_group_rule_group_id_security_group'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['remote_group_id'], ['security_group.id'],
            name=op.f('fk_security_group_rule_remote_group_id_security_group'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_security_group_rule')))
    with op.batch_alter_table('security_group_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_group_rule_group_id'), ['group_id'],
                              unique=False)
    numbers = {g['id']: n for n, g in enumerate(new_groups, start=1)}
    op.bulk_insert(groups, [{'id': numbers[g['id']], 'project_id': g['project_id'],
                             'name': g['name'], 'description': g['description']}
                            for g in new_groups])
    kept = [r for r in new_rules if r['direction'] == 'ingress' and r['ethertype'] == 'IPv4'
            and r['protocol'] in ('tcp', 'udp', 'icmp')]
    op.bulk_insert(rules, [{
        'group_id': numbers[r['group_id']], 'protocol': r['protocol'],
        'from_port': r['port_range_min'] if r['port_range_min'] is not None else (
            -1 if r['protocol'] == 'icmp' else 1),
        'to_port': r['port_range_max'] if r['port_range_max'] is not None else (
            -1 if r['protocol'] == 'icmp' else 65535),
        'cidr': (r['remote_ip_prefix'] or '0.0.0.0/0') if r['remote_group_id'] is None
        else None,
        'remote_group_id': numbers.get(r['remote_group_id'])} for r in kept])
