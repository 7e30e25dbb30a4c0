"""labs.conf and environment overrides, typed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from labs.common.config import Config, ConfigError, describe, option


@dataclass(frozen=True)
class SampleOptions:
    section: ClassVar[str] = "sample"
    name: str = option("x", "a name")
    count: int = option(3, "how many")
    enabled: bool = option(False, "on or off")
    hosts: list[str] = option((), "a list")


def test_defaults_file_then_environment(tmp_path: Path) -> None:
    conf = tmp_path / "labs.conf"
    conf.write_text("[sample]\nname = from-file\ncount = 7\nhosts = a, b\n")
    cfg = Config.load(conf, environ={"LABS_SAMPLE_COUNT": "9", "LABS_SAMPLE_ENABLED": "yes"})
    opts = cfg.group(SampleOptions)
    assert (opts.name, opts.count, opts.enabled, opts.hosts) == ("from-file", 9, True,
                                                                  ["a", "b"])
    assert Config.load(None, environ={}).group(SampleOptions).count == 3


def test_bad_values_name_the_option() -> None:
    cfg = Config({"sample": {"count": "many"}}, environ={})
    with pytest.raises(ConfigError, match=r"\[sample\] count"):
        cfg.group(SampleOptions)
    with pytest.raises(ConfigError, match="enabled"):
        Config({}, environ={"LABS_SAMPLE_ENABLED": "perhaps"}).group(SampleOptions)


def test_describe_lists_help() -> None:
    assert ("count", 3, "how many") in describe(SampleOptions)
