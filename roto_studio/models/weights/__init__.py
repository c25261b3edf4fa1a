"""Model weights: the registry of pinned files, the folders on disk, downloads, licences."""
