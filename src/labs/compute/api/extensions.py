"""The extensions ``GET /extensions`` lists: Nova's fixed list of v2.1 (its entries kept
for what old clients check), trimmed to what Labs serves."""

from __future__ import annotations

from typing import Any

#: alias -> (name, description)
EXTENSIONS: dict[str, tuple[str, str]] = {
    "OS-DCF": ("DiskConfig", "Disk Management Extension."),
    "OS-EXT-AZ": ("ExtendedAvailabilityZone", "Extended Availability Zone support."),
    "OS-EXT-IMG-SIZE": ("ImageSize", "Adds image size to image listings."),
    "OS-EXT-IPS": ("ExtendedIps", "Adds type parameter to the ip list."),
    "OS-EXT-IPS-MAC": ("ExtendedIpsMac", "Adds mac address parameter to the ip list."),
    "OS-EXT-SRV-ATTR": ("ExtendedServerAttributes", "Extended Server Attributes support."),
    "OS-EXT-STS": ("ExtendedStatus", "Extended Status support."),
    "OS-FLV-DISABLED": ("FlavorDisabled", "Support to show the disabled status of a "
                        "flavor."),
    "OS-FLV-EXT-DATA": ("FlavorExtraData", "Provide additional data for flavors."),
    "OS-SCH-HNT": ("SchedulerHints", "Pass arbitrary key/value pairs to the scheduler."),
    "OS-SRV-USG": ("ServerUsage", "Adds launched_at and terminated_at on Servers."),
    "os-access-ips": ("AccessIPs", "Access IPs support."),
    "os-attach-interfaces": ("AttachInterfaces", "Attach interface support."),
    "os-availability-zone": ("AvailabilityZone", "1. Add availability_zone to the Create "
                             "Server API. 2. Add availability zones describing."),
    "os-console-output": ("ConsoleOutput", "Console log output support, with tailing "
                          "ability."),
    "os-flavor-access": ("FlavorAccess", "Flavor access support."),
    "os-flavor-extra-specs": ("FlavorExtraSpecs", "Flavors extra specs support."),
    "os-flavor-manage": ("FlavorManage", "Flavor create/delete API support."),
    "os-floating-ip-pools": ("FloatingIpPools", "Floating IPs support."),
    "os-floating-ips": ("FloatingIps", "Floating IPs support."),
    "os-hypervisors": ("Hypervisors", "Admin-only hypervisor administration."),
    "os-instance-actions": ("InstanceActions", "View a log of actions and events taken on "
                            "an instance."),
    "os-keypairs": ("Keypairs", "Keypair Support."),
    "os-lock-server": ("LockServer", "Enable lock/unlock server actions."),
    "os-networks": ("Networks", "Admin-only Network Management Extension."),
    "os-pause-server": ("PauseServer", "Enable pause/unpause server actions."),
    "os-quota-sets": ("Quotas", "Quotas management support."),
    "os-security-groups": ("SecurityGroups", "Security group support."),
    "os-server-groups": ("ServerGroups", "Server group support."),
    "os-server-start-stop": ("ServerStartStop", "Start/Stop instance compute API support."),
    "os-services": ("Services", "Services support."),
    "os-simple-tenant-usage": ("SimpleTenantUsage", "Simple tenant usage extension."),
    "os-used-limits": ("UsedLimits", "Provide data on limited resources that are being "
                       "used."),
}


def extension(alias: str) -> dict[str, Any]:
    name, description = EXTENSIONS[alias]
    return {"alias": alias, "name": name, "description": description, "links": [],
            "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
            "updated": "2014-12-03T00:00:00Z"}
