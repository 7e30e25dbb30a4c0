"""project labels: each project's name as a DNS label, unique in the cloud

Revision ID: 0007
Revises: 0006

Existing projects get the label their servers' FQDNs already used (their name as a DNS
label), or one derived from the name when that is empty; clashes get ``-2``, ``-3``...
The derivation is copied here, frozen, so that this revision never changes meaning.
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _derived(name: str) -> str:
    plain = "".join(c for c in unicodedata.normalize("NFKD", name.casefold())
                    if not unicodedata.combining(c))
    label = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
    if not label:
        return "project"
    if not label[0].isalpha():
        label = "p-" + label
    return label[:63].rstrip("-")


def _as_before(name: str) -> str:
    """What servers of the project were named under before labels (Nova's sanitizing)."""
    label = re.sub(r"[ _.]", "-", name.lower())
    label = re.sub(r"[^a-z0-9-]", "", label).strip("-")
    return label[:63].rstrip("-")


def _free(base: str, taken: set[str]) -> str:
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = base[:63 - len(suffix)].rstrip("-") + suffix
    return candidate


def upgrade() -> None:
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label', sa.String(length=63), nullable=True))
    project = sa.table('project', sa.column('id', sa.String), sa.column('name', sa.String),
                       sa.column('domain_id', sa.String), sa.column('label', sa.String))
    conn = op.get_bind()
    # the default domain's projects first: theirs are the names Labs has always served
    rows = sorted(conn.execute(sa.select(project.c.id, project.c.name, project.c.domain_id)),
                  key=lambda r: (r.domain_id != 'default', r.id))
    taken: set[str] = set()
    for row in rows:
        label = _free(_as_before(row.name) or _derived(row.name), taken)
        taken.add(label)
        conn.execute(sa.update(project).where(project.c.id == row.id).values(label=label))
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.alter_column('label', existing_type=sa.String(length=63), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_project_label'), ['label'])


def downgrade() -> None:
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_project_label'), type_='unique')
        batch_op.drop_column('label')
