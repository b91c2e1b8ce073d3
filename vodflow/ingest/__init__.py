"""Ingest orchestration: the steps of the video_ingest DAG and atomic publishing to the origin."""
