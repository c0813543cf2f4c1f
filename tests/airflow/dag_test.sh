#!/usr/bin/env bash
# Runs conf/airflow/clickstream_batch.py once with the real Airflow (`airflow dags test`, as a
# manual run triggered at DATE: it reports the last day completed by then, or the `day`
# parameter given with -c), against whatever batch-job binary and configuration the caller
# gives. Called by jobs/batch-job/tests/airflow.rs, which prepares the data and the database
# and checks the results. The real scheduler is tested by tests/e2e/tests/airflow.rs.
#
#   tests/airflow/dag_test.sh DATE [dags test options, e.g. -c '{"day": "2026-11-20"}']
#                                     (env: CLICKSTREAM_BATCH_JOB_BIN, CLICKSTREAM_BATCH_JOB_CONFIG)
#
# apache-airflow is installed once into $CLICKSTREAM_CACHE_DIR/airflow-venv by
# tests/airflow/airflow.sh (default ~/.cache/clickstream/airflow-venv; about a minute).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATE=${1:?usage: dag_test.sh YYYY-MM-DD [dags test options]}
shift
CACHE_DIR=${CLICKSTREAM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clickstream}
VENV=$CACHE_DIR/airflow-venv
say() { printf '[dag-test] %s\n' "$*" >&2; }

: "${CLICKSTREAM_BATCH_JOB_BIN:?set CLICKSTREAM_BATCH_JOB_BIN to the batch-job binary}"
: "${CLICKSTREAM_BATCH_JOB_CONFIG:?set CLICKSTREAM_BATCH_JOB_CONFIG to its configuration}"

"$REPO/tests/airflow/airflow.sh" install

# A private Airflow home: SQLite metadata, only our DAG folder, no examples.
AIRFLOW_HOME=$(mktemp -d "${TMPDIR:-/tmp}/airflow-home.XXXXXX")
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW_HOME
export AIRFLOW__CORE__DAGS_FOLDER=$REPO/conf/airflow
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__LOGGING__LOGGING_LEVEL=INFO
export CLICKSTREAM_BATCH_START_DATE=${CLICKSTREAM_BATCH_START_DATE:-$DATE}

say "airflow db migrate ($AIRFLOW_HOME)"
"$VENV/bin/airflow" db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -n 30 "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
say "checking the DAG imports cleanly"
"$VENV/bin/python" - <<PY
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="$REPO/conf/airflow")
assert not bag.import_errors, bag.import_errors
dag = bag.dags.get("clickstream_batch")
assert dag is not None and dag.catchup, "clickstream_batch must exist and catch up (backfill)"
assert [t.task_id for t in dag.topological_sort()] == ["wait_for_complete_partitions", "run_batch_job", "reconcile_late_logs"]
assert all(t.retries >= 1 for t in dag.tasks)
# The scheduler's own view: a run is created for a day only once the day is over.
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import TimeRestriction
import pendulum
timetable = coerce_to_core_timetable(dag.timetable)
assert type(timetable).__name__ == "CronDataIntervalTimetable", type(timetable)
first = timetable.next_dagrun_info(
    last_automated_data_interval=None,
    restriction=TimeRestriction(earliest=pendulum.datetime(2026, 11, 20, tz="UTC"), latest=None, catchup=True),
)
assert first.data_interval.start == pendulum.datetime(2026, 11, 20, tz="UTC"), first
assert first.run_after == pendulum.datetime(2026, 11, 21, tz="UTC"), first
manual = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 21, 9, 30, tz="UTC"))
assert manual.start == pendulum.datetime(2026, 11, 20, tz="UTC"), manual
PY
say "airflow dags test clickstream_batch $DATE $*"
"$VENV/bin/airflow" dags test clickstream_batch "$DATE" "$@"
