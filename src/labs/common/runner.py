"""Running Labs services: where data lives, composing APIs, serving HTTP."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from labs.common.config import Config, option
from labs.common.db import Database, DatabaseOptions
from labs.common.errors import NotFound
from labs.common.http import RequestIdMiddleware, keystone_error

log = logging.getLogger("labs")

#: Environment variables that `labs serve` hands to its worker processes.
ENV_DATA_DIR = "LABS_DATA_DIR"
ENV_CONFIG = "LABS_CONFIG"


@dataclass(frozen=True)
class HttpOptions:
    section: ClassVar[str] = "http"
    bind: str = option("127.0.0.1:5000", "HOST:PORT to listen on")
    public_url: str = option("", "URL clients reach this cloud at; empty: http://<bind>")
    workers: int = option(2, "worker processes for `labs serve`")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "labs"


@dataclass
class Site:
    """One Labs process's place on disk and its configuration."""

    data_dir: Path
    config: Config

    @classmethod
    def open(cls, data_dir: Path | None = None, config_file: Path | None = None) -> Site:
        data_dir = (data_dir or Path(os.environ.get(ENV_DATA_DIR) or default_data_dir()))
        data_dir = data_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config_path = config_file or Path(os.environ.get(ENV_CONFIG) or data_dir / "labs.conf")
        return cls(data_dir, Config.load(config_path))

    def database(self) -> Database:
        opts = self.config.group(DatabaseOptions)
        url = opts.url or f"sqlite:///{self.data_dir / 'labs.db'}"
        return Database(url, pool_size=opts.pool_size, echo=opts.echo)

    def http(self) -> HttpOptions:
        return self.config.group(HttpOptions)

    def public_url(self, bind: str) -> str:
        return self.http().public_url or f"http://{bind}"

    def export(self) -> None:
        """Let worker processes find the same site."""
        os.environ[ENV_DATA_DIR] = str(self.data_dir)
        if self.config.path is not None:
            os.environ[ENV_CONFIG] = str(self.config.path)


def compose(apis: Mapping[str, ASGIApp]) -> ASGIApp:
    """Mount each API under its prefix (``/identity``...), add ``/healthz`` and request ids."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "services": sorted(apis)})

    routes: list[Any] = [Route("/healthz", healthz)]
    routes += [mount(prefix, app) for prefix, app in apis.items()]

    async def not_found(request: Request, _exc: Exception) -> Response:
        return JSONResponse(keystone_error(NotFound(f"The resource {request.url.path} was not "
                                                    "found.")), status_code=404)

    return RequestIdMiddleware(Starlette(routes=routes, exception_handlers={404: not_found}))


def mount(prefix: str, app: ASGIApp) -> Mount:
    """``app`` under ``prefix``, for every path below it."""
    route = Mount(prefix, app=app)
    # Starlette's "{path:path}" is ".*", which stops at a newline: a path with %0A in an id
    # would miss the API and get a bare 404 instead of the API's own error body
    route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
    return route


def split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--bind wants HOST:PORT, got {bind!r}")
    return host.strip("[]"), int(port)


class ReadyServer(uvicorn.Server):
    """A uvicorn server that prints one line once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready_line: str) -> None:
        super().__init__(config)
        self.ready_line = ready_line

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.ready_line, flush=True)


#: How long an idle keep-alive connection stays open. uvicorn's default (5 s) equals
#: the poll interval of the openstack CLI's --wait: a client that reuses its connection
#: right as the server closes it gets "connection reset by peer".
KEEP_ALIVE_SECONDS = 75


def uvicorn_config(app: Any, bind: str, **kw: Any) -> uvicorn.Config:
    host, port = split_bind(bind)
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                          server_header=False, timeout_graceful_shutdown=5,
                          timeout_keep_alive=KEEP_ALIVE_SECONDS, **kw)


def run_workers(site: Site, service: str, factory: str, bind: str, workers: int) -> None:
    """Serve uvicorn's app `factory` (``module:function``, called in each worker with the
    site from the environment) on `bind` with `workers` processes, until stopped."""
    site.export()
    host, port = split_bind(bind)
    log.info("serving %s on %s with %d workers", service, bind, workers)
    # The workers share one listening socket. By default the first to wake accepts
    # every connection waiting (8 clients that connect at once all land on one
    # worker); libuv's single-accept mode takes one and lets the others have a turn.
    os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")
    uvicorn.run(factory, factory=True, workers=workers, host=host, port=port, log_config=None,
                access_log=False, server_header=False, timeout_keep_alive=KEEP_ALIVE_SECONDS)


def setup_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
