"""Daily batch reports of the clickstream pipeline (docs/batch-layer.md).

Schedule: one run per UTC day, *after* the day. The timetable is a
``CronDataIntervalTimetable("@daily")``: the run whose data interval is
[D 00:00, D+1 00:00) starts once D+1 begins and reports day D (its
``data_interval_start``). A plain ``schedule="@daily"`` would not do this in
Airflow 3: it becomes a ``CronTriggerTimetable`` whose run at 00:00 of day D
is *for* D, a day that has just begun.

- **Catch-up**: with ``catchup=True`` the scheduler creates one run per
  completed day since ``CLICKSTREAM_BATCH_START_DATE``; the current day is
  never run before it is over.
- **Backfill**: ``airflow backfill create --dag-id clickstream_batch
  --from-date 2026-11-01 --to-date 2026-11-30`` runs each of those days once
  (reason ``backfill`` in ``batch_runs``).
- **Manual trigger**: reports the last day completed when it was triggered
  (with a logical date, the data interval Airflow infers for it, which is the
  same day), or the day given as the ``day`` parameter
  (``airflow dags trigger clickstream_batch --conf '{"day": "2026-11-20"}'``).

Each run has three tasks:

1. ``wait_for_complete_partitions`` -- a sensor calling ``batch-job
   check-complete --date DAY``: the day ended more than
   ``completeness.grace_minutes`` ago, no ``.avro.tmp`` file is left under
   ``date=DAY`` of the HDFS master copy, and at least one data file exists.
2. ``run_batch_job`` -- ``batch-job run --date DAY``: reads the day's Avro
   files, deduplicates by event id and replaces the day's rows in MySQL in one
   transaction. Idempotent, so retries, clears and backfills are safe.
3. ``reconcile_late_logs`` -- ``batch-job reconcile --through DAY --days N``:
   each of the last N days (``CLICKSTREAM_BATCH_RECONCILE_DAYS``, default 7)
   whose master copy changed since it was reported (a late drop of logs, a
   recovered or removed file) is reported again, each re-run recorded in
   ``batch_runs`` with the reason.

What each exit code of batch-job (jobs/batch-job/src/error.rs) does here:

====  ==========================================  ===============================
code  meaning                                     Airflow
====  ==========================================  ===============================
0     done / complete                             success
3     day not complete yet (sensor); no data      sensor: poke again later
      (run)                                       (rescheduled); run: retry
1     runtime failure                             retry (``retries``, backoff)
75    HDFS or MySQL unreachable in time           retry (``retries``, backoff)
2     bad command line                            fail at once, no retry
4     corrupt input file                          fail at once, no retry
78    invalid configuration, missing root         fail at once, no retry
====  ==========================================  ===============================

Deployment settings (environment of the scheduler and workers):
``CLICKSTREAM_BATCH_JOB_BIN`` (the binary), ``CLICKSTREAM_BATCH_JOB_CONFIG``
(its TOML file), ``CLICKSTREAM_BATCH_START_DATE`` (first day, YYYY-MM-DD),
``CLICKSTREAM_BATCH_RECONCILE_DAYS`` (how far back late logs are looked for).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, PokeReturnValue, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

BATCH_JOB = os.environ.get("CLICKSTREAM_BATCH_JOB_BIN", "/usr/local/bin/batch-job")
CONFIG = os.environ.get("CLICKSTREAM_BATCH_JOB_CONFIG", "/etc/clickstream/batch-job.toml")
START_DATE = datetime.fromisoformat(os.environ.get("CLICKSTREAM_BATCH_START_DATE", "2026-11-20")).replace(
    tzinfo=timezone.utc
)
RECONCILE_DAYS = int(os.environ.get("CLICKSTREAM_BATCH_RECONCILE_DAYS", "7"))

# batch-job's exit codes (jobs/batch-job/src/error.rs).
OK = 0
NOT_READY = 3
# Codes no retry can fix: fail the task at once.
FAIL_NOW = {2: "bad command line", 4: "corrupt input file", 78: "invalid configuration"}
# Codes worth a retry.
RETRY = {1: "runtime failure", 3: "no data for the day", 75: "HDFS or MySQL unreachable"}

log = logging.getLogger("clickstream_batch")


def report_day() -> str:
    """The UTC day this run reports: the ``day`` parameter, else the run's data
    interval, else (a manual run without a logical date) the last day
    completed when the run was triggered."""
    context = get_current_context()
    day = context["params"].get("day")
    if day:
        return str(day)
    start = context.get("data_interval_start")
    if start is not None:
        return start.strftime("%Y-%m-%d")
    # Airflow 3 triggers manual runs (UI, `airflow dags trigger`, the REST API)
    # without a logical date by default, and such a run has no data interval.
    run_after = context["dag_run"].run_after
    return (run_after.astimezone(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%d")


def run_reason() -> str:
    """``scheduled``, ``manual`` or ``backfill``, for ``batch_runs.reason``."""
    run_type = get_current_context()["dag_run"].run_type
    return str(getattr(run_type, "value", run_type))


def batch_job(*args: str) -> int:
    """Runs batch-job, copies its output into the task log, returns its exit code."""
    cmd = [BATCH_JOB, "--config", CONFIG, *args]
    log.info("running %s", shlex.join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    for line in proc.stdout.splitlines():
        log.info("%s", line)
    log.info("batch-job exited %d", proc.returncode)
    return proc.returncode


def succeed_or_raise(code: int, what: str) -> None:
    """Maps a non-zero exit code to a failure without retry, or one with."""
    if code == OK:
        return
    if code in FAIL_NOW:
        raise AirflowFailException(f"{what} exited {code} ({FAIL_NOW[code]}): a retry cannot help; see the log above")
    reason = RETRY.get(code, "unexpected exit code")
    raise AirflowException(f"{what} exited {code} ({reason}); Airflow retries")


with DAG(
    dag_id="clickstream_batch",
    description="HDFS master copy -> daily reports in MySQL (unique visitors, success/failure, day-wise, hourly)",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=START_DATE,
    catchup=True,
    max_active_runs=3,
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Report this UTC day (YYYY-MM-DD) instead of the run's data interval.",
        )
    },
    default_args={
        "owner": "clickstream",
        "retries": 3,
        "retry_delay": timedelta(minutes=10),
        "retry_exponential_backoff": True,
    },
    tags=["clickstream", "batch"],
) as dag:

    @task.sensor(
        task_id="wait_for_complete_partitions",
        mode="reschedule",
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=12),
    )
    def wait_for_complete_partitions() -> PokeReturnValue:
        code = batch_job("check-complete", "--date", report_day())
        if code == NOT_READY:
            return PokeReturnValue(is_done=False)
        succeed_or_raise(code, "batch-job check-complete")
        return PokeReturnValue(is_done=True)

    @task(task_id="run_batch_job", execution_timeout=timedelta(hours=2))
    def run_batch_job() -> None:
        # A run that finds no data after the sensor said "complete" (exit 3)
        # is an error worth a retry, not a skip.
        code = batch_job("run", "--date", report_day(), "--no-progress", "--reason", run_reason())
        succeed_or_raise(code, "batch-job run")

    @task(task_id="reconcile_late_logs", execution_timeout=timedelta(hours=2))
    def reconcile_late_logs() -> None:
        code = batch_job("reconcile", "--through", report_day(), "--days", str(RECONCILE_DAYS), "--no-progress")
        succeed_or_raise(code, "batch-job reconcile")

    wait_for_complete_partitions() >> run_batch_job() >> reconcile_late_logs()
