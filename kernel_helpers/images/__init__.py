"""Images and layers: a content-addressed layer store, OCI and `docker save` formats, commit.

Taught in: lab 06.
"""

from kernel_helpers._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("OverlayStage", "commit", "remove_container_fs"),
                    "kernel_helpers.images.containerfs"),
    **dict.fromkeys(("export_archive", "import_archive"), "kernel_helpers.images.docker_archive"),
    **dict.fromkeys(("export_layout", "import_layout"), "kernel_helpers.images.oci"),
    **dict.fromkeys(("Image", "ImageConfig", "all_images", "get", "normalize_ref"),
                    "kernel_helpers.images.store"),
    **dict.fromkeys(("UnsafeArchive", "extract_layer"), "kernel_helpers.images.tarsafe"),
}
__getattr__, __dir__ = lazy_exports(_EXPORTS)
__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - one table names the exports and their modules
