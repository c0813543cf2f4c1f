#!/usr/bin/env bash
# Runs conf/airflow/clickstream_batch.py for one logical date with the real Airflow
# (`airflow dags test`), against whatever batch-job binary and configuration the caller
# gives. Called by jobs/batch-job/tests/airflow.rs, which prepares the data and the
# database and checks the results.
#
#   tests/airflow/dag_test.sh DATE        (env: CLICKSTREAM_BATCH_JOB_BIN, CLICKSTREAM_BATCH_JOB_CONFIG)
#
# apache-airflow==3.3.2 is installed once into $CLICKSTREAM_CACHE_DIR/airflow-venv
# (default ~/.cache/clickstream/airflow-venv; about a minute); later runs reuse it.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATE=${1:?usage: dag_test.sh YYYY-MM-DD}
CACHE_DIR=${CLICKSTREAM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clickstream}
VENV=$CACHE_DIR/airflow-venv
AIRFLOW_VERSION=3.3.2
say() { printf '[dag-test] %s\n' "$*" >&2; }

: "${CLICKSTREAM_BATCH_JOB_BIN:?set CLICKSTREAM_BATCH_JOB_BIN to the batch-job binary}"
: "${CLICKSTREAM_BATCH_JOB_CONFIG:?set CLICKSTREAM_BATCH_JOB_CONFIG to its configuration}"

# One installer at a time (parallel test runs share the cache).
mkdir -p "$CACHE_DIR"
exec 8>"$CACHE_DIR/airflow-venv.lock"
flock -w 900 8
if ! "$VENV/bin/python" -c "import airflow, sys; sys.exit(airflow.__version__ != '$AIRFLOW_VERSION')" 2>/dev/null; then
  say "installing apache-airflow==$AIRFLOW_VERSION into $VENV (one time, about a minute)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "apache-airflow==$AIRFLOW_VERSION" >&2
fi
flock -u 8

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
dag = bag.get_dag("clickstream_batch")
assert dag is not None and dag.catchup, "clickstream_batch must exist and catch up (backfill)"
assert [t.task_id for t in dag.topological_sort()] == ["wait_for_complete_partitions", "run_batch_job"]
assert all(t.retries >= 1 for t in dag.tasks)
PY
say "airflow dags test clickstream_batch $DATE"
"$VENV/bin/airflow" dags test clickstream_batch "$DATE"
