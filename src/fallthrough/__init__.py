"""fallthrough: a fall-through caching edge for object storage."""

__version__ = "0.1.0"
