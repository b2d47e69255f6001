"""The podcast pipeline: feed -> SQLite -> audio downloads -> offline transcripts -> search.

``podcast_pipeline.py`` (the command line) and ``dags/podcast_summary.py`` (the Airflow DAG) are
thin layers over these modules; README.md has the map.
"""
