"""several NICs per instance: one fixed IP per (instance, network), in NIC order

Revision ID: 0008
Revises: 0007

An instance held one fixed IP (``fixed_ip.instance_id`` was unique); now it holds one per
network it is on (unique ``(instance_id, network_id)``), and ``nic_index`` says which of
its NICs (eth0, eth1, ...) that address's port is. Existing addresses are each their
instance's only NIC: index 0.
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fixed_ip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nic_index', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('fixed_ip', schema=None) as batch_op:
        batch_op.alter_column('nic_index', existing_type=sa.Integer(),
                              existing_nullable=False, server_default=None)
        batch_op.create_index(batch_op.f('ix_fixed_ip_instance_id'), ['instance_id'],
                              unique=False)
        batch_op.drop_constraint('uq_fixed_ip_instance_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_fixed_ip_instance_id_network_id'),
                                          ['instance_id', 'network_id'])


def downgrade() -> None:
    """Back to one address per instance: an instance's NICs past its first lose theirs
    (their ports are unbound)."""
    bind = op.get_bind()
    extra = sa.text("SELECT id, port_id FROM fixed_ip WHERE instance_id IS NOT NULL "
                    "AND nic_index > 0")
    for fixed_id, port_id in bind.execute(extra).all():
        bind.execute(sa.text("UPDATE fixed_ip SET instance_id = NULL WHERE id = :id"),
                     {"id": fixed_id})
        if port_id:
            bind.execute(sa.text("UPDATE port SET device_id = '', device_owner = '', "
                                 "status = 'DOWN' WHERE id = :id"), {"id": port_id})
    with op.batch_alter_table('fixed_ip', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_fixed_ip_instance_id_network_id'),
                                 type_='unique')
        batch_op.create_unique_constraint('uq_fixed_ip_instance_id', ['instance_id'])
        batch_op.drop_index(batch_op.f('ix_fixed_ip_instance_id'))
        batch_op.drop_column('nic_index')
