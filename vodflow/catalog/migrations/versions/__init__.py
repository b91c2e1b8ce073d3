"""Catalog migration revisions."""
