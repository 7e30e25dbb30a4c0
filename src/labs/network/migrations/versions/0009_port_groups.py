"""the ports compute made take their servers' security groups

Revision ID: 0009
Revises: 0008

A host enforces the security groups of a server's port (Neutron's), no longer those
the server names. Each port compute made for a server (``auto_delete``) with no groups
gets the ids of the groups its server names (``default`` when it names none), read from
compute's ``instance`` table where it is in the same database. Going down leaves the
groups in place (nothing reads them there).
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _names(value: Any) -> list[str]:
    names = json.loads(value) if isinstance(value, str) else value
    return [str(n) for n in names or []] or ['default']


def upgrade() -> None:
    bind = op.get_bind()
    if 'instance' not in sa.inspect(bind).get_table_names():
        return  # compute keeps its servers elsewhere: nothing to copy from
    port = sa.table('port', sa.column('id'), sa.column('project_id'),
                    sa.column('device_id'), sa.column('auto_delete'),
                    sa.column('security_groups', sa.JSON()))
    instance = sa.table('instance', sa.column('id'), sa.column('security_groups'))
    group = sa.table('security_group', sa.column('id'), sa.column('project_id'),
                     sa.column('name'))
    rows = bind.execute(sa.select(port.c.id, port.c.project_id, port.c.security_groups,
                                  instance.c.security_groups.label('names'))
                        .join(instance, instance.c.id == port.c.device_id)
                        .where(port.c.auto_delete == sa.true())).all()
    for row in rows:
        if row.security_groups:
            continue
        names = _names(row.names)
        found = dict(bind.execute(sa.select(group.c.name, group.c.id).where(
            group.c.project_id == row.project_id, group.c.name.in_(names))).all())
        ids = [found[name] for name in names if name in found]
        if ids:
            bind.execute(sa.update(port).where(port.c.id == row.id)
                         .values(security_groups=ids))


def downgrade() -> None:
    pass
