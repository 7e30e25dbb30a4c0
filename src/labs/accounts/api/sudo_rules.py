"""A project's sudo rules: ``/v1/projects/{project_id}/sudo-rules``."""

from __future__ import annotations

from typing import Any

from labs.accounts.policy import READ_SUDO_RULES
from labs.accounts.service import AccountsService
from labs.common.errors import NotFound
from labs.common.http import Api, Call
from labs.identity.sudo import rules
from labs.identity.sudo.rules import SudoRule

Body = dict[str, Any]
RULES = "/v1/projects/{project_id}/sudo-rules"
RULE = RULES + "/{name}"

_names: dict[str, Any] = {"type": "array", "maxItems": rules.MAX_VALUES,
                          "items": {"type": "string", "maxLength": rules.MAX_COMMAND}}
_rule: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": f"^{rules.NAME.pattern}$"},
        "users": _names, "hosts": _names, "commands": _names, "options": _names,
        "run_as_users": _names, "run_as_groups": _names,
        "order": {"type": "integer", "minimum": 0, "maximum": rules.MAX_ORDER}}}
CREATE = {"type": "object", "required": ["sudo_rule"], "properties": {
    "sudo_rule": {**_rule, "required": ["name", "users", "commands"]}}}
UPDATE = {"type": "object", "required": ["sudo_rule"], "properties": {
    "sudo_rule": {**_rule, "minProperties": 1}}}


def view(call: Call, project_id: str, rule: SudoRule) -> Body:
    return {**rule.to_dict(), "project_id": project_id,
            "links": {"self": call.url(f"/v1/projects/{project_id}/sudo-rules/{rule.name}")}}


def project_id_of(call: Call, rule: str | None = None) -> str:
    """The project in the path, once the caller may see its rules (and, for a change,
    make it): 404 for a project the caller cannot see, as for one that does not exist."""
    project_id: str = call.params["project_id"]
    target = {"project_id": project_id}
    policy = call.api.policy
    if policy is None or not policy.allowed(READ_SUDO_RULES, call.context, target):
        raise NotFound(f"Could not find project: {project_id}.")
    if rule:
        call.enforce(rule, target)
    return project_id


def register(api: Api, accounts: AccountsService) -> None:
    sudo = accounts.identity.sudo

    @api.get(RULES)
    def list_sudo_rules(call: Call) -> Body:
        """List a project's sudo rules."""
        project_id = project_id_of(call)
        return {"sudo_rules": [view(call, project_id, r) for r in sudo.list_rules(project_id)]}

    @api.post(RULES, status=201, schema=CREATE)
    def create_sudo_rule(call: Call) -> Body:
        """Create a sudo rule in a project (its project admins and cloud admins)."""
        project_id = project_id_of(call, "accounts:create_sudo_rule")
        rule = sudo.create_rule(project_id, call.body["sudo_rule"])
        return {"sudo_rule": view(call, project_id, rule)}

    @api.get(RULE)
    def show_sudo_rule(call: Call) -> Body:
        """Show one sudo rule of a project."""
        project_id = project_id_of(call)
        return {"sudo_rule": view(call, project_id,
                                  sudo.get_rule(project_id, call.params["name"]))}

    @api.patch(RULE, schema=UPDATE)
    def update_sudo_rule(call: Call) -> Body:
        """Change fields of a sudo rule (a new name renames it)."""
        project_id = project_id_of(call, "accounts:update_sudo_rule")
        rule = sudo.update_rule(project_id, call.params["name"], call.body["sudo_rule"])
        return {"sudo_rule": view(call, project_id, rule)}

    @api.delete(RULE)
    def delete_sudo_rule(call: Call) -> None:
        """Delete a sudo rule of a project."""
        project_id = project_id_of(call, "accounts:delete_sudo_rule")
        sudo.delete_rule(project_id, call.params["name"])
