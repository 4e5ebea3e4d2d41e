"""Derived objects: image transforms, IIIF, ... each an origin whose source is fetched through the cache."""
