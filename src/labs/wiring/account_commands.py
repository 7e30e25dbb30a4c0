"""The operators' account commands: ``labs account create|reset-password`` and
``labs project members``, over the identity service of the site's database.

Importing this module is cheap (``labs --help`` builds its parsers); the services load
when a command runs."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labs.common.errors import LabsError, NotFound
from labs.common.runner import Site

if TYPE_CHECKING:
    from labs.identity.backends.base import UserRecord
    from labs.identity.service import IdentityService

Common = Callable[[argparse.ArgumentParser], None]


def add_commands(sub: Any, common: Common,
                 rotate_keys: Callable[[argparse.Namespace], int]) -> None:
    """``labs identity rotate-keys``, ``labs account ...`` and ``labs project members``."""
    ident = sub.add_parser("identity", help="identity administration")
    ident_sub = ident.add_subparsers(dest="action", required=True)
    rotate = ident_sub.add_parser("rotate-keys", help="rotate the Fernet token keys")
    common(rotate)
    rotate.add_argument("--credentials", action="store_true", help="rotate the keys of "
                        "credential blobs instead, re-encrypting every blob")
    rotate.set_defaults(func=rotate_keys)

    account = sub.add_parser("account", help="Labs accounts (users with a shell name, uid "
                             "and gid)")
    account_sub = account.add_subparsers(dest="action", required=True)
    create = account_sub.add_parser("create", help="create a user and its account")
    common(create)
    create.add_argument("name", help="the login name")
    create.add_argument("--shell-name", help="the shell name (default: derived from NAME)")
    create.add_argument("--domain", help="domain id (default: [identity] default_domain_id)")
    create.add_argument("--email")
    _password_options(create)
    create.set_defaults(func=cmd_create)
    reset = account_sub.add_parser("reset-password", help="set a new password (the user's "
                                   "tokens stop working)")
    common(reset)
    reset.add_argument("name", help="the login name or the shell name")
    reset.add_argument("--domain", help="domain id (default: [identity] default_domain_id)")
    _password_options(reset)
    reset.set_defaults(func=cmd_reset_password)

    project = sub.add_parser("project", help="projects")
    project_sub = project.add_subparsers(dest="action", required=True)
    members = project_sub.add_parser("members", help="a project's members with their shell "
                                     "names and roles")
    common(members)
    members.add_argument("project", help="the project's name or id")
    members.set_defaults(func=cmd_project_members)


def _password_options(p: argparse.ArgumentParser) -> None:
    how = p.add_mutually_exclusive_group()
    how.add_argument("--password-file", type=Path, help="read the password from the first "
                     "line of this file ('-': standard input)")
    how.add_argument("--password-prompt", action="store_true", help="ask for the password")


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(the password, whether it was generated here and must be shown once)."""
    if args.password_file is not None:
        text = (sys.stdin.readline() if str(args.password_file) == "-"
                else args.password_file.read_text())
        line = text.splitlines()[0] if text.strip("\r\n") else ""
        if not line:
            raise SystemExit("the password file is empty")
        return line, False
    if args.password_prompt:
        first = getpass.getpass("New password: ")
        if not first or first != getpass.getpass("Again: "):
            raise SystemExit("the passwords are empty or differ")
        return first, False
    return secrets.token_urlsafe(18), True


def _open(args: argparse.Namespace) -> IdentityService:
    from labs.wiring.identity import open_identity

    identity = open_identity(Site.open(args.data_dir, args.config))
    identity.prepare()
    return identity


def _show(user: UserRecord) -> str:
    posix = user.posix
    if posix is None:
        return f"{user.name} ({user.id}): no account"
    return (f"{user.name} ({user.id}): shell name {posix.shell_name}, uid {posix.uid_number}, "
            f"gid {posix.gid_number}, home {posix.home_directory}, shell {posix.login_shell}")


def cmd_create(args: argparse.Namespace) -> int:
    password, generated = _password(args)
    identity = _open(args)
    fields: dict[str, Any] = {"name": args.name, "password": password}
    if args.domain:
        fields["domain_id"] = args.domain
    if args.shell_name:
        fields["shell_name"] = args.shell_name
    if args.email:
        fields["email"] = args.email
    try:
        user = identity.users.create_user(fields, identity.default_domain_id)
    except LabsError as exc:
        print(f"labs account create: {exc.message}", file=sys.stderr)
        return 1
    finally:
        identity.store.db.dispose()
    print(_show(user))
    if generated:
        print(f"password: {password}")
    return 0


def _find(identity: IdentityService, name: str, domain: str | None) -> UserRecord:
    with identity.store.read() as tx:
        try:
            return identity.backend.find_user(tx, name, domain or identity.default_domain_id)
        except NotFound:
            return identity.backend.find_user_by_shell_name(tx, name)


def cmd_reset_password(args: argparse.Namespace) -> int:
    password, generated = _password(args)
    identity = _open(args)
    try:
        user = _find(identity, args.name, args.domain)
        identity.users.update_user(user.id, {"password": password})
    except LabsError as exc:
        print(f"labs account reset-password: {exc.message}", file=sys.stderr)
        return 1
    finally:
        identity.store.db.dispose()
    print(f"new password set for {user.name} ({user.id}); their tokens were revoked")
    if generated:
        print(f"password: {password}")
    return 0


def cmd_project_members(args: argparse.Namespace) -> int:
    identity = _open(args)
    try:
        rows = project_members(identity, args.project)
    except LabsError as exc:
        print(f"labs project members: {exc.message}", file=sys.stderr)
        return 1
    finally:
        identity.store.db.dispose()
    width = max([len(r[0]) for r in rows] + [10])
    print(f"{'shell name':<{width}}  {'uid':>6}  name / roles")
    for shell, uid, name, roles in rows:
        print(f"{shell:<{width}}  {uid:>6}  {name} / {', '.join(roles)}")
    return 0


def project_members(identity: IdentityService, project: str
                    ) -> list[tuple[str, str, str, list[str]]]:
    """(shell name, uid, login name, roles held) of each member, by shell name; roles
    held directly or through a group, not the ones they imply."""
    from labs.identity.assignments import AssignmentFilter
    from labs.identity.resources import ProjectFilter

    found = identity.resources.list_projects(ProjectFilter(name=project))
    project_id = found[0].id if len(found) == 1 else identity.resources.get_project(project).id
    grants = [g for g in identity.assignments.list_assignments(
        AssignmentFilter(project_id=project_id, effective=True)) if g.prior_role_id is None]
    names = identity.assignments.names([g.role_id for g in grants])
    roles: dict[str, set[str]] = {}
    for grant in grants:
        roles.setdefault(grant.actor_id, set()).add(names[grant.role_id])
    rows = []
    for user_id, held in roles.items():
        user = identity.users.get_user(user_id)
        shell = user.posix.shell_name if user.posix else "-"
        uid = str(user.posix.uid_number) if user.posix else "-"
        rows.append((shell, uid, user.name, sorted(held)))
    return sorted(rows)
