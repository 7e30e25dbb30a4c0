"""projects' sudo rules

Revision ID: 0008
Revises: 0007

Projects made before this revision get the two default rules a new project gets
(``default-sudo`` and ``default-sudo-as``), copied here, frozen, so that this revision
never changes meaning.
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_LISTS = ('users', 'hosts', 'commands', 'options', 'run_as_users', 'run_as_groups')


def upgrade() -> None:
    table = op.create_table('sudo_rule',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('users', sa.JSON(), nullable=False),
    sa.Column('hosts', sa.JSON(), nullable=False),
    sa.Column('commands', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('run_as_users', sa.JSON(), nullable=False),
    sa.Column('run_as_groups', sa.JSON(), nullable=False),
    sa.Column('sudo_order', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_sudo_rule_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'name', name=op.f('pk_sudo_rule'))
    )
    project = sa.table('project', sa.column('id', sa.String), sa.column('label', sa.String))
    rows = []
    for project_id, label in op.get_bind().execute(sa.select(project.c.id, project.c.label)):
        group = f"%project-{label}"
        for name, run_as in (("default-sudo", "ALL"), ("default-sudo-as", group)):
            rows.append({"project_id": project_id, "name": name, "users": [group],
                         "hosts": ["ALL"], "commands": ["ALL"], "options": ["!authenticate"],
                         "run_as_users": [run_as], "run_as_groups": [], "sudo_order": 0})
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table('sudo_rule')
