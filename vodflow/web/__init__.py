"""The web player pages served by the API: catalog grid, sign-in form, title page.

``create_router(settings)`` returns the router included by ``vodflow.api.app.create_app``:
HTML shells (``vodflow.web.routes``), the JS/CSS bundles built from ``web/`` by ``make web`` into
``vodflow/web/static/`` (served at ``/static/``), and ``GET /web/catalog`` (ready titles with poster
URLs signed for their ``thumbs/`` prefix only). See docs/playback.md, "Web player".
"""

from vodflow.web.routes import STATIC_DIR, BundleMissing, bundle_info, create_router

__all__ = ["STATIC_DIR", "BundleMissing", "bundle_info", "create_router"]
