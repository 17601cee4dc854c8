"""The usage join's vocabulary: every reason code :func:`imgframe.usage.usage` gives, and
why a server's image may be missing from the images frame. Data only.

A reason is ``code`` or ``code:evidence`` (which server, volume, image or project); the
codes are grouped by the verdict they explain.
"""

from __future__ import annotations

__all__ = ["MISSING_REASONS", "REASONS"]

#: reason code -> what it means (a reason is ``code`` or ``code:evidence``)
REASONS = {
    # in use: the evidence names the referrer
    "server": "a server (not DELETED) was booted from it: server:<id> <STATUS>",
    "server_kernel": "a server's kernel image (admin view): server_kernel:<server id>",
    "server_ramdisk": "a server's ramdisk image (admin view): server_ramdisk:<server id>",
    "volume": "a volume descends from it (volume_image_metadata, lineage): volume:<id>",
    "image_kernel": "another image names it as kernel_id: image_kernel:<image id>",
    "image_ramdisk": "another image names it as ramdisk_id: image_ramdisk:<image id>",
    "shelved": "the <server>-shelved image of a shelved server, needed to unshelve it: "
               "shelved:<server id> <STATUS>",
    # unused
    "no_referrer": "no server, volume or image refers to it, and every listing was complete",
    "cells_assumed_up": "cells could not be verified; the caller stated they were up",
    # unknown: which scope was missing
    "servers_scope_unknown": "the servers frame does not record what it covered",
    "servers_not_every_page": "not every page of servers was read",
    "soft_deleted_not_listed": "SOFT_DELETED servers (restorable) were not listed",
    "cells_down": "a cell did not answer: its servers are missing (evidence: how seen)",
    "cells_not_verified": "whether every Nova cell answered could not be checked",
    "servers_project_not_listed": "a private image of a project whose servers were not "
                                  "listed: servers_project_not_listed:<owner>",
    "volumes_project_not_listed": "a private image of a project whose volumes were not "
                                  "listed: volumes_project_not_listed:<owner>",
    "visibility_beyond_scope": "a public, community or shared image: other projects may use "
                               "it, and only one project's listing was read",
    "visibility_unknown": "the images frame does not say this image's visibility and owner "
                          "(the Nova images proxy's): its users cannot be bounded",
    "volumes_not_read": "no volumes listing: an image used only through a volume is unseen",
    "volumes_scope_unknown": "the volumes frame does not record what it covered",
    "volumes_not_every_page": "not every page of volumes was read",
    "images_incomplete": "the images listing was partial or truncated: images naming this "
                         "one as kernel or ramdisk may be missing",
    # snapshots: the parent's state (evidence for ``orphan``)
    "parent_present": "its server exists: parent_present:<id> <STATUS>",
    "parent_deleted": "its server is DELETED (orphan): parent_deleted:<id>",
    "parent_absent": "its server is in no listing of a complete scope (orphan): "
                     "parent_absent:<id>",
    "parent_not_seen": "its server was not seen, but the servers scope was not complete: "
                       "parent_not_seen:<id>",
}

#: why a server's image may be absent from the images frame (``reason`` of
#: :func:`missing_servers`), the likeliest first
MISSING_REASONS = {
    "images_incomplete": "the images listing was partial or truncated",
    "images_filtered": "the images listing was filtered",
    "another_project": "the server is another project's: its image is likely private to "
                       "that project (or shared and not accepted)",
    "deleted_or_hidden": "the image was deleted, or is hidden or a community image the "
                         "listing did not ask for (Nova still shows a deleted image's id)",
}
