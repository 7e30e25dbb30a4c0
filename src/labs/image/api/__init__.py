"""The image HTTP API (Glance v2)."""

from __future__ import annotations

from labs.common.context import Authenticator
from labs.common.http import Api, glance_error
from labs.common.policy import Policy
from labs.image.api import images, imports, members
from labs.image.policy import RULES
from labs.image.service import ImageService


def build_api(service: ImageService, authenticator: Authenticator) -> Api:
    api = Api("image", render_error=glance_error)
    api.authenticator = authenticator
    api.policy = Policy(RULES)
    for module in (images, members, imports):
        module.register(api, service)
    return api
