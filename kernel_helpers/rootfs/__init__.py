"""Root filesystems: the offline busybox base image and the container's mount setup."""

from kernel_helpers.rootfs.busybox import busybox_rootfs, build_busybox_rootfs
from kernel_helpers.rootfs.mounts import MountPlan, enter_rootfs, plan_mounts

__all__ = ["busybox_rootfs", "build_busybox_rootfs", "MountPlan", "enter_rootfs", "plan_mounts"]
