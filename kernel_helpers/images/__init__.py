"""Images and layers: a content-addressed layer store, OCI and `docker save` formats, commit.

Taught in: lab 06.
"""

from kernel_helpers.images.containerfs import (OverlayStage, commit, image_spec_and_stage,
                                               remove_container_fs)
from kernel_helpers.images.docker_archive import export_archive, import_archive
from kernel_helpers.images.oci import export_layout, import_layout
from kernel_helpers.images.store import Image, ImageConfig, all_images, get, normalize_ref
from kernel_helpers.images.tarsafe import UnsafeArchive, extract_layer

__all__ = ["Image", "ImageConfig", "OverlayStage", "UnsafeArchive", "all_images", "commit",
           "export_archive", "export_layout", "extract_layer", "get", "import_archive",
           "image_spec_and_stage", "import_layout", "normalize_ref", "remove_container_fs"]
