"""``labs status``: whether a cloud runs and where, what its database says (compute
services and their heartbeats, agents' hosts, VMs by status; see ``status_db``), how its
VMs would run (KVM or TCG, and why), where the accounts' directory answers and whether
it does (see ``directory``), which real components the host has, and what is left
on the host that should not be, with the fix in words. Exit status 0 when the cloud is up
and healthy or cleanly down."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from labs.common.runner import Site
from labs.compute.config import AgentOptions
from labs.compute.virt import ksm, qemu_process
from labs.compute.virt.qemu_records import built_kernels
from labs.wiring.directory import directory_status
from labs.wiring.operate import Leftovers, find_leftovers, running_up
from labs.wiring.status_db import database_status

#: The real programs a cloud may run, and the package that has each.
COMPONENTS = {"qemu-system-x86_64": "qemu-system-x86", "slapd": "slapd",
              "pdns_server": "pdns-server", "dnsmasq": "dnsmasq-base", "nft": "nftables"}


def accelerator(options: AgentOptions,
                probe: Callable[[str, Path], bool] = qemu_process.kvm_works) -> str:
    """KVM or TCG for this host's VMs, and why (as the qemu driver decides)."""
    if options.driver != "qemu":
        return f"no VMs: [agent] driver = {options.driver}"
    if options.qemu_accel != "auto":
        return f"{options.qemu_accel.upper()}: [agent] qemu_accel = {options.qemu_accel}"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "TCG (software emulation): no usable /dev/kvm"
    binary = shutil.which(options.qemu_binary)
    kernels = built_kernels()
    if binary is None:
        return f"unknown: {options.qemu_binary} is not installed"
    if not kernels:
        return ("KVM if it runs guests: /dev/kvm is there, not yet probed (no kernel built "
                "by `labs image build` to probe with)")
    if probe(binary, kernels[0]):
        return "KVM: /dev/kvm runs a probe guest"
    return "TCG (software emulation): /dev/kvm is there but does not run guests"


def components() -> list[str]:
    lines = []
    for program, package in COMPONENTS.items():
        path = shutil.which(program)
        lines.append(f"  {program}: {path}" if path else
                     f"  {program}: missing (apt-get install {package})")
    return lines


def _verdict(up: bool, found: Leftovers, foreign: str | None, data_dir: Path) -> list[str]:
    """The problems and their fixes; empty when all is well."""
    problems = []
    if not up and not found.empty():
        problems.append(f"labs up of {data_dir} is not running but left on this host: "
                        f"{found.describe()}. Remove it with `labs down --data-dir "
                        f"{data_dir}`, or adopt it with `labs up --data-dir {data_dir}`")
    if foreign is not None:
        problems.append(f"another cloud ({foreign}) left host networks under prefix "
                        f"{found.prefix}: this cloud cannot start until they are gone. "
                        f"Remove them with `labs down --data-dir {foreign}`, or give this "
                        "cloud its own `[agent] network_prefix`")
    return problems


def status(site: Site) -> int:
    """Print the cloud's status; 0 when up and healthy or cleanly down, else 1."""
    options = site.config.group(AgentOptions)
    up = running_up(site.data_dir)
    found, foreign = find_leftovers(site)
    print(f"cloud: {site.data_dir}")
    if up is not None:
        print(f"labs up: running (pid {up.pid}) at {up.url}")
    else:
        print("labs up: not running")
    print(f"VMs running: {len(found.vms)}"
          + (f" ({', '.join(i for i, _ in found.vms)})" if found.vms else ""))
    print(f"networks (prefix {found.prefix}): {len(found.networks)} in the records, "
          f"namespaces: {', '.join(found.namespaces) or 'none'}")
    database = database_status(site, up)
    print("\n".join(database.lines))
    directory_lines, directory_problems = directory_status(site, up is not None)
    print("\n".join(directory_lines))
    print(f"accelerator: {accelerator(options)}")
    state = ksm.read_state()
    print(f"KSM (identical pages of VMs kept once): "
          f"{'not in this kernel' if state is None else ksm.describe(state)}")
    print("components on PATH:")
    print("\n".join(components()))
    problems = database.problems + directory_problems + _verdict(up is not None, found,
                                            foreign.data_dir if foreign else None,
                                            site.data_dir)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if not problems:
        print("healthy: up" if up is not None else "cleanly down: nothing left on this host")
    return 1 if problems else 0
