#!/usr/bin/env bash
# The real Airflow 3 for the tests: installed once into a cached venv, then run in a private
# AIRFLOW_HOME (SQLite metadata, LocalExecutor, only conf/airflow as the DAG folder).
#
#   tests/airflow/airflow.sh install             install apache-airflow into the cache (once)
#   tests/airflow/airflow.sh up HOME             db migrate, then start the scheduler, the
#                                                DAG processor and the API server (which the
#                                                task runner of Airflow 3 reports to) in HOME
#   tests/airflow/airflow.sh cli HOME ARGS...    the airflow command line against HOME
#   tests/airflow/airflow.sh down HOME           stop what `up` started
#
# The DAG reads its settings from the environment of `up` (CLICKSTREAM_BATCH_JOB_BIN,
# CLICKSTREAM_BATCH_JOB_CONFIG, CLICKSTREAM_BATCH_START_DATE, ...). Logs: HOME/logs/*.log.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE_DIR=${CLICKSTREAM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clickstream}
VENV=$CACHE_DIR/airflow-venv
AIRFLOW_VERSION=3.3.2
say() { printf '[airflow] %s\n' "$*" >&2; }

install() {
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
  exec 8>&-
}

# The settings of a private Airflow: read by every airflow process started with HOME.
use_home() {
  export AIRFLOW_HOME=$1
  mkdir -p "$AIRFLOW_HOME/logs"
  export AIRFLOW__CORE__DAGS_FOLDER=$REPO/conf/airflow
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__UNIT_TEST_MODE=False
  export AIRFLOW__CORE__EXECUTOR=LocalExecutor
  export AIRFLOW__CORE__PARALLELISM=4
  export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
  export AIRFLOW__LOGGING__LOGGING_LEVEL=INFO
  export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=2
  export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
  # The API server the task runner reports to, on a port of this HOME's own.
  [[ -s $AIRFLOW_HOME/api.port ]] || python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$AIRFLOW_HOME/api.port"
  local port; port=$(cat "$AIRFLOW_HOME/api.port")
  export AIRFLOW__API__PORT=$port
  export AIRFLOW__API__HOST=127.0.0.1
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$port/execution/
  # A task runner's wait for each answer of the API server (5 s by default). The first
  # execution request after start-up took 5.5 s on the loaded 2-core CI machine.
  export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=30
  [[ -s $AIRFLOW_HOME/jwt.secret ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$AIRFLOW_HOME/jwt.secret"
  AIRFLOW__API_AUTH__JWT_SECRET=$(cat "$AIRFLOW_HOME/jwt.secret")
  export AIRFLOW__API_AUTH__JWT_SECRET
}

# start PART: one Airflow process in its own session (so `down` ends its workers too).
start() {
  (exec setsid "$VENV/bin/airflow" "$1" >"$AIRFLOW_HOME/logs/$1.log" 2>&1 </dev/null) &
  echo $! >"$AIRFLOW_HOME/$1.pid"
}

api_answers() { curl -fsS "http://127.0.0.1:$(cat "$AIRFLOW_HOME/api.port")/api/v2/monitor/health" >/dev/null 2>&1; }

# Up means the DAGs folder is parsed: until then the CLI does not know the DAG.
dag_parsed() {
  "$VENV/bin/python" - "$AIRFLOW_HOME/airflow.db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=10)
sys.exit(0 if con.execute("select count(*) from dag").fetchone()[0] > 0 else 1)
PY
}

# await DEADLINE FAILURE CHECK PART...: runs CHECK every second until it succeeds. Fails with
# the tail of a PART's log when that part has exited, or saying FAILURE with the first PART's
# log once SECONDS reaches DEADLINE.
await() {
  local deadline=$1 failure=$2 check=$3 part; shift 3
  until "$check"; do
    for part; do
      kill -0 "$(cat "$AIRFLOW_HOME/$part.pid")" 2>/dev/null || { tail -n 30 "$AIRFLOW_HOME/logs/$part.log" >&2; say "$part exited"; exit 1; }
    done
    ((SECONDS < deadline)) || { tail -n 30 "$AIRFLOW_HOME/logs/$1.log" >&2; say "$failure"; exit 1; }
    sleep 1
  done
}

up() {
  install
  use_home "$1"
  say "airflow db migrate ($AIRFLOW_HOME)"
  "$VENV/bin/airflow" db migrate >"$AIRFLOW_HOME/logs/migrate.log" 2>&1 || { tail -n 30 "$AIRFLOW_HOME/logs/migrate.log" >&2; exit 1; }
  # The API server first, and answering, before anything can run a task: a task's runner
  # reports to it from its first moment and gives up after [workers] execution_api_retries.
  # Started side by side, the scheduler queued the first task while the API server was still
  # booting (8 s on a loaded machine); the runner spent its retries on refused connections,
  # the task failed without running, and its run waited out the DAG's 10-minute retry delay.
  local deadline=$((SECONDS + 180))
  start api-server
  await "$deadline" "API server not up after 180 s" api_answers api-server
  start dag-processor
  start scheduler
  await "$deadline" "no DAG parsed after 180 s" dag_parsed dag-processor scheduler
  say "API server (port $(cat "$AIRFLOW_HOME/api.port")), DAG processor and scheduler up in $AIRFLOW_HOME; DAGs parsed"
}

down() {
  local part pid
  for part in scheduler dag-processor api-server; do
    [[ -s $1/$part.pid ]] || continue
    pid=$(cat "$1/$part.pid")
    # Each runs in its own session: end the whole group (gunicorn/uvicorn workers, task runners).
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$1/$part.pid"
  done
}

case ${1:-} in
  install) install ;;
  up) up "${2:?usage: airflow.sh up HOME}" ;;
  cli) use_home "${2:?usage: airflow.sh cli HOME ARGS...}"; shift 2; exec "$VENV/bin/airflow" "$@" ;;
  down) down "${2:?usage: airflow.sh down HOME}" ;;
  *) echo "usage: tests/airflow/airflow.sh install | up HOME | cli HOME ARGS... | down HOME" >&2; exit 2 ;;
esac
