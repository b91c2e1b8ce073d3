"""The vodflow HTTP API (upload + catalog) and the upload client.

``vodflow.api.app``            FastAPI app (``app``, ``create_app(settings)``)
``vodflow.api.ingest_request`` the Kafka ingest request schema and publisher
``vodflow.api.upload``         streaming multipart -> S3 multipart upload
``vodflow.api.upload_cli``     ``upload_file()`` and the ``upload`` / ``api`` commands
"""
