"""Watch analytics: player events, their ingestion into Kafka and a session simulator.

Status (first part of the "watch analytics" issue):

- done: ``events`` (pydantic v2 event model, schema_version 1, validation with per-field reasons),
  ``spark_schema`` (Spark StructType of the same JSON, pyspark imported lazily),
  ``routes`` (``POST /events`` router: validate, produce to Kafka keyed by session_id, flush),
  ``simulate`` (realistic sessions with duplicates / late / malformed events, senders to the API or
  Kafka, ``vodflow events simulate``). Wire format and lake layout: ``docs/analytics-events.md``.
- next: the Structured Streaming job Kafka -> bronze -> silver/quarantine (dedup on event_id,
  watermark on client_ts), gold aggregates and the ``analytics_maint`` DAG (OPTIMIZE/VACUUM).
"""
