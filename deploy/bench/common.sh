# Sourced by the benchmark scripts that run release builds against a database of their own.
# Needs .settle/stack.env loaded (DATABASE_URL). Sets psql, bin, bench_url and pids; the EXIT
# trap kills every PID in pids and drops the database.

psql=$(ls /usr/lib/postgresql/*/bin/psql | tail -1)

# need COMMAND…: stops the run, naming the Debian package, when one is not installed.
need() {
  local command
  for command in "$@"; do command -v "$command" >/dev/null || { echo "$command is not installed (apt-get install $command)"; exit 1; }; done
}

# release_build PRODUCT…: builds them in SETTLE_BUILD_PATH (default .build); sets bin.
release_build() {
  local build="${SETTLE_BUILD_PATH:-.build}" product
  echo "==> release builds of $* ($build)" >&2
  for product in "$@"; do swift build -c release --scratch-path "$build" --product "$product" >/dev/null 2>&1; done
  bin="$build/release"
}

# bench_database: a migrated database of the run's own on the stack's server; sets bench_url.
bench_database() {
  bench_name="settle_bench_$(date +%s)"
  "$psql" "$DATABASE_URL" -qc "CREATE DATABASE $bench_name"
  bench_url="${DATABASE_URL%/*}/$bench_name"
  trap bench_cleanup EXIT
  DATABASE_URL="$bench_url" "$bin"/settle migrate >/dev/null
}

pids=()
bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$psql" "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $bench_name WITH (FORCE)" || true
}

sql() { "$psql" "$bench_url" -qAt -c "$1"; }

# wait_healthy PORT: until 127.0.0.1:PORT answers /healthz (30 s at most).
wait_healthy() {
  for _ in $(seq 1 150); do curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return; sleep 0.2; done
  echo "port $1 never answered"; exit 1
}
