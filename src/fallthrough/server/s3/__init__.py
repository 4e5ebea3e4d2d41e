"""The S3 API: a bucket per mount, read through the cache."""
