"""A snapshot of a qemu instance's disk: a running guest is paused (QMP ``stop``, which
drains and flushes its disk) while qemu-img copies the overlay with its backing chain into
one standalone qcow2 (consistent as after a power cut), then it runs on."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from labs.common.diskimage.format_inspector import ImageFormatError, inspect_file
from labs.common.diskimage.qemu_img import COPY_ADDRESS_SPACE, limited
from labs.compute.virt.base import PowerState, VirtError
from labs.compute.virt.qemu_images import TOOL_TIMEOUT, run_tool
from labs.compute.virt.qemu_monitor import QemuMonitor

log = logging.getLogger("labs.compute.virt.qemu")


def write(monitor: QemuMonitor, qemu_img: str, workdir: Path, instance_id: str,
          target: Path) -> str:
    """Write the instance's disk to `target` as qcow2; the format written."""
    running = monitor.state(workdir) == PowerState.RUNNING  # not paused
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise VirtError(f"snapshot of instance {instance_id}: cannot write beside "
                        f"{target}: {exc}") from exc
    os.close(fd)
    try:
        if running:
            monitor.qmp(workdir, "stop")  # drains and flushes the disk
        try:
            run_tool(limited([qemu_img, "convert", "-U", "-f", "qcow2", "-O", "qcow2",
                              str(workdir / "disk.qcow2"), tmp],
                             cpu_seconds=int(TOOL_TIMEOUT),
                             address_space=COPY_ADDRESS_SPACE),
                     f"snapshot of instance {instance_id}")
        finally:
            if running:
                monitor.qmp(workdir, "cont")
        # the copy stands alone (convert copies the backing chain in), which the
        # image service checks again at upload
        try:
            inspect_file(Path(tmp)).check("qcow2")
        except ImageFormatError as exc:
            raise VirtError(f"snapshot of instance {instance_id}: {exc}") from exc
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("snapshot of instance %s written to %s", instance_id, target)
    return "qcow2"
