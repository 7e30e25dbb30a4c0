"""Who may do what with images. Visibility and ownership are the service's job;
these rules say which roles may try at all."""

from __future__ import annotations

from labs.common.policy import Rule, admin, always, role

#: Roles that may change things in their project (a reader only looks).
writer = role("admin", "projectadmin", "member")

RULES: dict[str, Rule] = {
    "image:get_image": always,
    "image:get_images": always,
    "image:download_image": always,
    "image:add_image": writer,
    "image:modify_image": writer,
    "image:delete_image": writer,
    "image:upload_image": writer,
    "image:deactivate": writer,
    "image:reactivate": writer,
    "image:add_member": writer,
    "image:get_members": always,
    "image:modify_member": writer,
    "image:delete_member": writer,
    "image:stage_image": writer,
    "image:import_image": writer,
    "image:get_image_tasks": always,
    # Glance's tasks_api_access: the task API is for admins
    "image:get_tasks": admin,
    "image:get_task": admin,
    "image:get_stores": always,
    "image:stores_info_detail": admin,
    "image:get_import_info": always,
    "image:get_usage": always,
    "image:manage_image_cache": admin,
}
