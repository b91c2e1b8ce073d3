"""Authentication: access and license tokens (``tokens``), FastAPI dependencies (``deps``), the
login and ``/me`` routes (``routes``), and how command-line clients get a token (``client``)."""
