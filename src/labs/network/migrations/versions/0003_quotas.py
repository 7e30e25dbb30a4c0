"""network quotas: per-project limits of Neutron's resources and the projects' locks

Revision ID: 0003
Revises: 0002

Limits an admin set for a project (``network_quota``; the others come from the
``[network] quota_*`` options) and one lock row per project that the network's creates
take before they count (``network_quota_lock``). The compute API's legacy network
limits (``floating_ips``, ``security_groups``, ``security_group_rules`` in
``quota_limit``) move here as ``floatingip``, ``security_group`` and
``security_group_rule``.
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

#: Nova's legacy names in compute's quota_limit -> Neutron's.
MOVED = {'floating_ips': 'floatingip', 'security_groups': 'security_group',
         'security_group_rules': 'security_group_rule'}


def upgrade() -> None:
    limits = op.create_table(
        'network_quota',
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('resource', sa.String(length=64), nullable=False),
        sa.Column('hard_limit', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('project_id', 'resource', name=op.f('pk_network_quota')))
    op.create_table(
        'network_quota_lock',
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('project_id', name=op.f('pk_network_quota_lock')))
    bind = op.get_bind()
    if not sa.inspect(bind).has_table('quota_limit'):
        return
    rows = bind.execute(sa.text(
        "SELECT project_id, resource, hard_limit FROM quota_limit WHERE resource IN "
        "('floating_ips', 'security_groups', 'security_group_rules')")).all()
    op.bulk_insert(limits, [{'project_id': p, 'resource': MOVED[r], 'hard_limit': h}
                            for p, r, h in rows])


def downgrade() -> None:
    op.drop_table('network_quota_lock')
    op.drop_table('network_quota')
