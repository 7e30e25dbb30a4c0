"""The answers under /labs/v1 of the metadata service: who gets into the calling VM.

- ``/labs/v1/access.json``: the `ProjectAccess` document of the caller's project (see
  labs.network.agent.metadata.access), with ``ETag: "<serial>"``; a request whose
  ``If-None-Match`` holds that tag gets 304 and no body, so a guest polling every two
  seconds costs a few hundred bytes a poll.
- ``/labs/v1/keys/<shell_name>``: the ssh keys of one account of the caller's project,
  one a line (for OpenSSH's ``AuthorizedKeysCommand``); 404 for a name that is no
  account of the project, 400 for a name that is no shell name.
- ``/labs`` and ``/labs/v1`` list what is below them.

The caller is the instance the metadata service found for the request (its network and
address); nothing is answered about another project. No sockets here.
"""

from __future__ import annotations

import json
import logging
import posixpath

from labs.network.agent.metadata.access import (
    SHELL_NAME,
    AccessSource,
    AccessUnavailable,
    ProjectAccess,
)
from labs.network.agent.metadata.formats import JSON, Extra, MetadataResponse, not_found
from labs.network.agent.metadata.source import InstanceMetadata

log = logging.getLogger("labs.network.agent.metadata.server")

PREFIX = "labs"
VERSION = "v1"
ACCESS_PATH = f"/{PREFIX}/{VERSION}/access.json"
KEYS_PATH = f"/{PREFIX}/{VERSION}/keys/"


def _text(text: str) -> MetadataResponse:
    return MetadataResponse(200, text.encode())


def _bad(message: str) -> MetadataResponse:
    return MetadataResponse(400, f"400 Bad Request\n\n{message}\n".encode())


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header value names `etag` (weak tags and * included)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def access_paths(source: AccessSource | None, if_none_match: str | None) -> Extra:
    """The metadata answers' hook (formats.answer's `extra`) serving ``/labs``."""

    def extra(instance: InstanceMetadata, path: str) -> MetadataResponse | None:
        tokens = [t for t in posixpath.normpath("/" + path).split("/") if t]
        if not tokens or tokens[0] != PREFIX:
            return None
        return render_access(source, instance, tokens, if_none_match)

    return extra


def render_access(source: AccessSource | None, instance: InstanceMetadata,
                  tokens: list[str], if_none_match: str | None) -> MetadataResponse:
    """The answer to a GET of ``/labs/...`` (`tokens`: the path's segments, "labs"
    first) for `instance`."""
    if len(tokens) == 1:
        return _text(VERSION)
    if tokens[1] != VERSION:
        return not_found()
    if len(tokens) == 2:
        return _text("access.json\nkeys/")
    if tokens[2] not in ("access.json", "keys") or len(tokens) > 4 or (
            tokens[2] == "access.json" and len(tokens) > 3):
        return not_found()
    if len(tokens) == 4 and not SHELL_NAME.fullmatch(tokens[3]):
        return _bad("The shell name is lower-case letters, digits, '_' and '-', starting "
                    "with a letter or '_', at most 32 characters.")
    if source is None:
        return not_found("This metadata service does not serve accounts (no access "
                         "source is configured).")
    try:
        access = source.access_for(instance)
    except AccessUnavailable as exc:
        log.warning("the access document of project %s is unavailable: %s",
                    instance.project_id, exc)
        return MetadataResponse(503, b"503 Service Unavailable\n\nThe project's accounts "
                                b"cannot be looked up now; try again.\n")
    except Exception:
        log.exception("looking up the access document of project %s failed",
                      instance.project_id)
        return MetadataResponse(500, b"500 Internal Server Error\n\nThe project's "
                                b"accounts could not be looked up; try again.\n")
    if access is not None and access.project_id != instance.project_id:
        log.warning("the access source gave project %s's document for an instance of "
                    "project %s: not served", access.project_id, instance.project_id)
        access = None
    if access is None:
        return not_found(f"No accounts are known for project {instance.project_id}.")
    if tokens[2] == "access.json":
        return _document(access, if_none_match)
    if len(tokens) == 3:
        return _text("\n".join(a.shell_name for a in access.accounts))
    account = access.account(tokens[3])
    if account is None:
        return not_found(f"{tokens[3]} is no account of this project.")
    return _text("".join(key + "\n" for key in account.ssh_keys))


def _document(access: ProjectAccess, if_none_match: str | None) -> MetadataResponse:
    doc = access.document()
    etag = f'"{doc["serial"]}"'
    headers = (("ETag", etag), ("Cache-Control", "no-cache"))
    if etag_matches(if_none_match, etag):
        return MetadataResponse(304, b"", JSON, headers)
    return MetadataResponse(200, json.dumps(doc, indent=1).encode() + b"\n", JSON, headers)
