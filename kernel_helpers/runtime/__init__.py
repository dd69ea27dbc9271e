"""The container runtime: specs, launching, and state kept on disk."""
