"""Signed delivery through the caching edge: CloudFront-format signed URLs (``signing``), the
verifier the edge asks on every request (``verifier``), and the edge's nginx configuration (``edge``)."""
