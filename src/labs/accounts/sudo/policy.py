"""Who may read and change a project's sudo rules.

The project's members and readers (and cloud admins and readers) read them; its
project admins and cloud admins change them. A caller who may not read a project's
rules is told the project does not exist, so its existence does not leak.
"""

from __future__ import annotations

from labs.common.policy import Rule, admin, any_of, project_admin, project_reader, system_reader

READ = "accounts:get_sudo_rules"

SUDO_RULES: dict[str, Rule] = {
    READ: any_of(admin, system_reader, project_reader),
    "accounts:create_sudo_rule": any_of(admin, project_admin),
    "accounts:update_sudo_rule": any_of(admin, project_admin),
    "accounts:delete_sudo_rule": any_of(admin, project_admin),
}
