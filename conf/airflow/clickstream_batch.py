"""Daily batch reports of the clickstream pipeline (docs/batch-layer.md).

For every UTC day (the run's logical date, ``{{ ds }}``):

1. ``wait_for_complete_partitions`` -- a sensor calling
   ``batch-job check-complete --date DAY``: the day is complete when it ended
   more than ``completeness.grace_minutes`` ago, no ``.avro.tmp`` file is left
   under ``date=DAY`` of the HDFS master copy, and at least one data file
   exists. Exit 3 means "not yet" (poke again later); any other non-zero exit
   (HDFS down, bad configuration) fails the task so that it is retried.
2. ``run_batch_job`` -- ``batch-job run --date DAY``: reads the day's Avro
   files, deduplicates by event id and replaces the day's rows in MySQL in one
   transaction. Idempotent, so retries, clears and backfills are safe.

Backfill: ``catchup=True`` schedules every day since the start date; older
ranges with ``airflow backfill create --dag-id clickstream_batch
--from-date 2026-11-01 --to-date 2026-11-30``.

Deployment settings (environment of the scheduler and workers):
``CLICKSTREAM_BATCH_JOB_BIN`` (the binary), ``CLICKSTREAM_BATCH_JOB_CONFIG``
(its TOML file), ``CLICKSTREAM_BATCH_START_DATE`` (first day, YYYY-MM-DD).
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.bash import BashSensor
from airflow.sdk import DAG

BATCH_JOB = os.environ.get("CLICKSTREAM_BATCH_JOB_BIN", "/usr/local/bin/batch-job")
CONFIG = os.environ.get("CLICKSTREAM_BATCH_JOB_CONFIG", "/etc/clickstream/batch-job.toml")
START_DATE = datetime.fromisoformat(os.environ.get("CLICKSTREAM_BATCH_START_DATE", "2026-11-20")).replace(
    tzinfo=timezone.utc
)

# batch-job's exit codes (jobs/batch-job/src/error.rs).
NOT_READY = 3

JOB = f"{shlex.quote(BATCH_JOB)} --config {shlex.quote(CONFIG)}"

with DAG(
    dag_id="clickstream_batch",
    description="HDFS master copy -> daily reports in MySQL (unique visitors, success/failure, day-wise, hourly)",
    schedule="@daily",
    start_date=START_DATE,
    catchup=True,
    max_active_runs=3,
    default_args={
        "owner": "clickstream",
        "retries": 3,
        "retry_delay": timedelta(minutes=10),
        "retry_exponential_backoff": True,
    },
    tags=["clickstream", "batch"],
) as dag:
    wait_for_complete_partitions = BashSensor(
        task_id="wait_for_complete_partitions",
        bash_command=f"{JOB} check-complete --date {{{{ ds }}}}",
        retry_exit_code=NOT_READY,
        mode="reschedule",
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=12),
    )

    run_batch_job = BashOperator(
        task_id="run_batch_job",
        bash_command=f"{JOB} run --date {{{{ ds }}}} --no-progress",
        execution_timeout=timedelta(hours=2),
        # A run that finds no data after the sensor said "complete" is an
        # error worth a retry, not a skip.
        skip_on_exit_code=None,
    )

    wait_for_complete_partitions >> run_batch_job
