# Sourced by bench/run, never run alone: installs what the benchmark lacks,
# builds (or takes) the proxy under test, installs the baseline, makes the
# workspace, certificates and upstreams, and starts and checks every proxy.
# Sets the variables the measurements in bench/run use (PPORT, PPID_, T, ...).
# shellcheck shell=bash

# ---------------------------------------------------------------- dependencies
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for pair in nginx:nginx-light wrk:wrk curl:curl openssl:openssl python3:python3; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ "$BASELINE" = 1 ] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

# ---------------------------------------------------------------- proxy under test
OURS_NOTE=""
if [ "$OURS" = 1 ] && [ -z "$PROXY_BIN" ]; then
  BUILD="$ROOT/build-bench"
  PROXY_BIN="$BUILD/codex-responses-api-proxy"
  need=()
  command -v cmake >/dev/null 2>&1 || need+=(cmake)
  command -v c++ >/dev/null 2>&1 || need+=(g++)
  command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
  for p in libevent-dev libssl-dev libcap-ng-dev libseccomp-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}" || true; fi
  mkdir -p "$HERE/.cache"
  log "building the proxy (Release) into build-bench/"
  if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPROXY_TESTS=OFF >"$HERE/.cache/build.log" 2>&1 &&
         cmake --build "$BUILD" -j"$(nproc)" --target codex-responses-api-proxy >>"$HERE/.cache/build.log" 2>&1; }; then
    tail -20 "$HERE/.cache/build.log" >&2
    if [ -x "$PROXY_BIN" ]; then
      OURS_NOTE="build failed; measured the previous build-bench binary"
      warn "$OURS_NOTE"
    else
      OURS_NOTE="build failed (see bench/.cache/build.log); ours not measured"
      warn "$OURS_NOTE"; OURS=0
    fi
  fi
fi
if [ "$OURS" = 1 ] && [ ! -x "$PROXY_BIN" ]; then
  OURS_NOTE="no proxy binary at $PROXY_BIN; ours not measured"; warn "$OURS_NOTE"; OURS=0
fi

# ---------------------------------------------------------------- baseline
BASELINE_NOTE=""
CODEX_BIN=""
if [ "$BASELINE" = 1 ]; then
  CACHE="$HERE/.cache/codex"
  find_codex() { find "$CACHE/node_modules" -path '*/bin/codex' -type f -perm -u+x 2>/dev/null | head -1; }
  CODEX_BIN=$(find_codex || true)
  if [ -z "$CODEX_BIN" ]; then
    log "npm install $CODEX_PKG into bench/.cache/codex"
    if npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error "$CODEX_PKG" >&2; then
      CODEX_BIN=$(find_codex || true)
    fi
  fi
  if [ -z "$CODEX_BIN" ] || ! "$CODEX_BIN" --version >/dev/null 2>&1; then
    BASELINE_NOTE="BASELINE UNAVAILABLE: could not install or run $CODEX_PKG; only ours and direct are measured"
    warn "$BASELINE_NOTE"; BASELINE=0; CODEX_BIN=""
  else
    log "baseline: $("$CODEX_BIN" --version) at ${CODEX_BIN#"$ROOT"/}"
  fi
else
  BASELINE_NOTE="baseline skipped (--no-baseline)"
fi

# ---------------------------------------------------------------- workspace
T=$(mktemp -d /tmp/proxy-bench.XXXXXX)
chmod 755 "$T"
RES="$T/res"; mkdir -p "$RES" "$T/nginx/logs" "$T/nginx/www" "$T/codex-home"
PIDS=()
descendants() { # PID -> PID and all its descendants (the proxies' workers)
  "${PY:-python3}" -c 'import sys; sys.path.insert(0, sys.argv[1]); import procmem; print(*procmem.tree_pids(int(sys.argv[2])))' "$HERE" "$1" 2>/dev/null
}
cleanup() {
  set +e
  local all=() pid i
  for pid in "${PIDS[@]}"; do all+=($(descendants "$pid")); done
  for pid in "${all[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for i in 1 2 3 4 5 6 7 8 9 10; do
    alive=0; for pid in "${all[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break; sleep 0.2
  done
  for pid in "${all[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null; done
  if [ "$KEEP" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 10,000 streams need ~10,000 fds in the client, the upstream and each proxy process
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then ulimit -n 1048576 || true; else ulimit -n "$hard" || true; fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((STREAMS + 500)) ]; then
  warn "RLIMIT_NOFILE is $(ulimit -n): fewer than $STREAMS streams may be served"
fi

# the real interpreter once (a pyenv shim costs a second or two per start)
PY=$(python3 -c 'import sys; print(sys.executable)')
free_port() { "$PY" -S -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { # FILE SECONDS [PID]
  local i=0
  while [ ! -s "$1" ]; do
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
    i=$((i + 1)); [ $i -gt $(($2 * 20)) ] && return 1
    sleep 0.05
  done
}
jget() { "$PY" -S -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], ""))' "$1" "$2"; }

# ---------------------------------------------------------------- 1. certificates
log "making a throwaway CA and server certificate in $T"
(
  cd "$T"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj "/CN=proxy-bench throwaway CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
    -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
    -extfile server.ext 2>/dev/null
  chmod 644 ./*.pem ./*.key
)

# request bodies (small, 40 KiB, small streaming, the Codex-shaped 100 KiB) and the
# canned 150-event answer the upstream serves for the streaming workloads
"$PY" "$HERE/workloads.py" "$T"
head -c $((100 * 1024 * 1024)) /dev/zero > "$T/big.bin"
BIG_BYTES=$((100 * 1024 * 1024))

# ---------------------------------------------------------------- 2. upstreams
NGINX_USER=""
[ "$(id -u)" = 0 ] && NGINX_USER="user root;"
write_upstream_conf() { # DIR PORT WORKERS
  local dir=$1 port=$2 workers=$3
  mkdir -p "$dir/logs" "$dir/www"
  cat > "$dir/nginx.conf" <<EOF
$NGINX_USER
daemon off;
worker_processes $workers;
worker_rlimit_nofile 30000;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 30000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_max_body_size 16m;
  client_body_buffer_size 256k;
  server {
    listen 127.0.0.1:$port ssl backlog=4096;
    ssl_certificate $T/server.pem;
    ssl_certificate_key $T/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    # The small fixed answer, sent only after the whole request body is read,
    # as the real API does (a bare "return" answers before the body arrives,
    # so clients cannot reuse the connection). mirror_request_body reads the
    # body in the precontent phase; the missing file then falls through to
    # the named location with the answer.
    location = /v1/responses {
      mirror /_sink;
      mirror_request_body on;
      root $dir/www;
      # the lookup is meant to miss: no error log line per request
      log_not_found off;
      error_page 404 405 = @answer;
    }
    location = /_sink { internal; return 204; }
    location @answer {
      default_type application/json;
      return 200 '{"id":"resp_bench","object":"response","status":"completed","model":"gpt-5","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hello!"}]}]}';
    }
    # 100 MiB body (static files refuse POST with 405: turn that into the file)
    location = /big/v1/responses {
      alias $T/big.bin;
      default_type application/octet-stream;
      error_page 405 =200 \$uri;
    }
    # The 150-event answer of the SSE-heavy and Codex-shaped workloads
    # (bench/workloads.py), too long for "return": a static file, POST turned
    # into it by error_page, after the whole request body is read (mirror, as
    # above; the redirect runs the mirror again, which costs every route the
    # same). SSI on a file without SSI commands changes nothing in it but
    # drops Content-Length, so the answer goes out chunked, as the real API
    # streams it.
    location = /sse150/v1/responses {
      mirror /_sink;
      mirror_request_body on;
      alias $T/sse150.txt;
      default_type text/event-stream;
      etag off;
      ssi on;
      ssi_types text/event-stream;
      error_page 405 =200 \$uri;
    }
    # a canned SSE answer (unpaced; the paced one is sse_upstream.py)
    location = /sse/v1/responses {
      default_type text/event-stream;
      return 200 'event: response.created\ndata: {"type":"response.created"}\n\nevent: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hello"}\n\nevent: response.completed\ndata: {"type":"response.completed"}\n\n';
    }
  }
}
EOF
}
start_upstream() { # DIR PORT WORKERS -> pid of its master (daemon off)
  write_upstream_conf "$@"
  nginx -p "$1" -c "$1/nginx.conf" -e "$1/logs/error.log" >"$1/stdout.log" 2>&1 &
  PIDS+=($!)
  wait_file "$1/nginx.pid" 10 "$!" || { cat "$1/logs/error.log" >&2; echo "nginx ($1) failed to start" >&2; exit 1; }
}
# The upstream stand-in every proxy forwards to: one worker. Its master's tree
# is the CPU time read around every wrk run (direct's own, the others' upstream).
NGX_PORT=$(free_port)
log "starting nginx upstream on 127.0.0.1:$NGX_PORT"
start_upstream "$T/nginx" "$NGX_PORT" 1
NGX_PID=${PIDS[-1]}
DIRECT="https://127.0.0.1:$NGX_PORT"
# The same with one worker per core, for direct's row of the workloads at one
# worker per core (bench/run's wrk phase, not in quick runs); the proxies never
# use it.
NGXN_PID=""
if [[ ",$PHASES," == *",wrk,"* ]] && [ "$QUICK" != 1 ]; then
  NGXN_PORT=$(free_port)
  start_upstream "$T/nginx-n" "$NGXN_PORT" auto
  NGXN_PID=${PIDS[-1]}
  DIRECTN="https://127.0.0.1:$NGXN_PORT"
fi

log "starting the Python SSE upstreams (paced, hold)"
for mode in paced hold; do
  "$PY" "$HERE/sse_upstream.py" --mode "$mode" --cert "$T/server.pem" --key "$T/server.key" \
    --port-file "$T/$mode.port" --events "$SSE_EVENTS" ${SSE_NAGLE:+--nagle} >"$T/sse-$mode.log" 2>&1 &
  PIDS+=($!)
  wait_file "$T/$mode.port" 20 "${PIDS[-1]}" || { cat "$T/sse-$mode.log" >&2; echo "SSE upstream ($mode) failed" >&2; exit 1; }
done
SSE_DIRECT="https://127.0.0.1:$(cat "$T/paced.port")"
HOLD_DIRECT="https://127.0.0.1:$(cat "$T/hold.port")"

# sanity: direct answers
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/ca.pem" -X POST -H 'Content-Type: application/json' \
  --data-binary @"$T/small.json" "$DIRECT/v1/responses")
[ "$code" = 200 ] || { echo "nginx upstream answered $code" >&2; exit 1; }
code=$(curl -s -o "$T/check-sse150.out" -w '%{http_code}' --cacert "$T/ca.pem" -X POST -H 'Content-Type: application/json' \
  --data-binary @"$T/codex-100k.json" "$DIRECT/sse150/v1/responses")
{ [ "$code" = 200 ] && cmp -s "$T/check-sse150.out" "$T/sse150.txt"; } ||
  { echo "nginx upstream answered $code to the 150-event route" >&2; exit 1; }

# ---------------------------------------------------------------- 3. proxies
KEY="sk-bench-0123456789abcdefABCDEF_xyz"
declare -A PPORT PPID_ ROUTES
ROUTES[api]="$DIRECT/v1/responses"
ROUTES[big]="$DIRECT/big/v1/responses"
ROUTES[sse]="$SSE_DIRECT/v1/responses"
ROUTES[hold]="$HOLD_DIRECT/hold/v1/responses"
ROUTES[ev]="$DIRECT/sse150/v1/responses"

# nginx as a key-injecting reverse proxy (the "nginx-injector"): what a careful
# operator would put in front of the API instead of either proxy. One instance
# per route, as for the others: upstream port and path of each route.
declare -A INJ_UPORT INJ_UPATH
INJ_UPORT[api]=$NGX_PORT; INJ_UPATH[api]=/v1/responses
INJ_UPORT[big]=$NGX_PORT; INJ_UPATH[big]=/big/v1/responses
INJ_UPORT[sse]=$(cat "$T/paced.port"); INJ_UPATH[sse]=/v1/responses
INJ_UPORT[hold]=$(cat "$T/hold.port"); INJ_UPATH[hold]=/hold/v1/responses
INJ_UPORT[ev]=$NGX_PORT; INJ_UPATH[ev]=/sse150/v1/responses
# file descriptors: each worker holds both sockets of its streams; nginx can
# raise its soft limit only up to the hard one (no CAP_SYS_RESOURCE here)
INJ_NOFILE=$(ulimit -Hn); [ "$INJ_NOFILE" = unlimited ] && INJ_NOFILE=1048576
[ "$INJ_NOFILE" -gt 1048576 ] && INJ_NOFILE=1048576
INJ_WORKERS=auto  # one worker per core (2 on the bench VM), as Debian's own nginx.conf has it
write_injector_conf() { # ROUTE PORT DIR [WORKERS]
  local route=$1 port=$2 dir=$3 workers=${4:-$INJ_WORKERS} conns=4096
  # a stream takes two connections (client, upstream) in one worker; nginx
  # allocates and initialises all worker_connections at start (about 1 KiB
  # each), so only the instance for the streams test gets the fd limit, the
  # others the per-worker client cap our proxy has by default (4096)
  [ "$route" = hold ] && conns=$INJ_NOFILE
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<EOF
$NGINX_USER
daemon off;
worker_processes $workers;
worker_rlimit_nofile $INJ_NOFILE;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
events { worker_connections $conns; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  # neither side closes a busy connection (nginx's default closes one after
  # 1,000 requests; neither our proxy nor the original does)
  keepalive_requests 1000000;
  keepalive_timeout 600s;
  upstream upstream_pool {
    server 127.0.0.1:${INJ_UPORT[$route]};
    keepalive 256;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
  }
  server {
    listen 127.0.0.1:$port;
    location = /v1/responses {
      limit_except POST { deny all; }
      proxy_pass https://upstream_pool${INJ_UPATH[$route]};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:${INJ_UPORT[$route]};
      proxy_set_header Authorization "Bearer $KEY";
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $T/ca.pem;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
    location / { return 403; }
  }
}
EOF
}

cd "$T"
start_proxy() { # KIND ROUTE -> PPORT[KIND-ROUTE], PPID_[KIND-ROUTE]
  # --server-info is given relative to $T (the cwd): with an absolute path our
  # proxy's parent calls mkdir() on the directory after its seccomp filter is on
  # and dies of SIGSYS (seen at commit 93b524b).
  # KIND ours1 and nginx1: the same with one worker process (the workloads at
  # one worker each, bench/run's wrk phase).
  local kind=$1 route=$2 name="$1-$2" info="info-$1-$2.json" pid
  if [ "$kind" = nginx ] || [ "$kind" = nginx1 ]; then
    local dir="$T/inj-$route" port workers=$INJ_WORKERS; port=$(free_port)
    [ "$kind" = nginx1 ] && { dir="$T/inj1-$route"; workers=1; }
    write_injector_conf "$route" "$port" "$dir" "$workers"
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$T/log-$name.txt" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if ! wait_file "$dir/nginx.pid" 20 "$pid"; then
      warn "$name did not start; log:"; tail -20 "$T/log-$name.txt" "$dir/logs/error.log" >&2; return 1
    fi
    PPORT[$name]=$port
    PPID_[$name]=$pid  # the master (daemon off); the workers are its children
    return 0
  fi
  if [ "$kind" = ours ] || [ "$kind" = ours1 ]; then
    local extra=() args=$OURS_ARGS
    [ "$kind" = ours1 ] && args=$OURS1_ARGS
    # the default cap on client connections per worker (4096) is below the streams test
    if [ "$route" = hold ] && [ -n "$OURS_MAXCONN_FLAG" ]; then extra+=(--max-connections $((STREAMS + 100))); fi
    # shellcheck disable=SC2086 # the args are split on purpose
    printf '%s\n' "$KEY" | "$PROXY_BIN" --upstream-url "${ROUTES[$route]}" --upstream-ca-file "$T/ca.pem" \
      --server-info "$info" "${extra[@]}" $args >"$T/log-$name.txt" 2>&1 &
  else
    printf '%s\n' "$KEY" | env SSL_CERT_FILE="$T/ca.pem" CODEX_HOME="$T/codex-home" RUST_LOG=error \
      "$CODEX_BIN" responses-api-proxy --upstream-url "${ROUTES[$route]}" --server-info "$info" \
      >"$T/log-$name.txt" 2>&1 &
  fi
  pid=$!
  PIDS+=("$pid")
  if ! wait_file "$info" 20 "$pid"; then
    warn "$name did not write --server-info; log:"; tail -20 "$T/log-$name.txt" >&2; return 1
  fi
  PPORT[$name]=$(jget "$info" port)
  local ipid; ipid=$(jget "$info" pid)
  PPID_[$name]=${ipid:-$pid}
}

mem() { "$PY" "$HERE/procmem.py" "$1"; }
check_proxy() { # NAME -> 0 if POST through it answers 200
  local out code
  out=$(curl -s -m 10 -o "$T/check-$1.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$T/small.json" "http://127.0.0.1:${PPORT[$1]}/v1/responses" 2>&1) || true
  code=${out:-000}
  if [ "$code" != 200 ]; then
    warn "$1: POST /v1/responses answered $code: $(head -c 300 "$T/check-$1.out" 2>/dev/null)"
    tail -10 "$T/log-$1.txt" >&2
    return 1
  fi
}

NGINX_NOTE=""; [ "$NGINX_INJ" = 1 ] || NGINX_NOTE="nginx-injector skipped (--no-nginx)"
OURS_MAXCONN_FLAG=""
if [ "$OURS" = 1 ] && "$PROXY_BIN" --help 2>&1 | grep -q -- '--max-connections'; then OURS_MAXCONN_FLAG=1; fi
KINDS=()
[ "$OURS" = 1 ] && KINDS+=(ours)
[ "$BASELINE" = 1 ] && KINDS+=(baseline)
[ "$NGINX_INJ" = 1 ] && KINDS+=(nginx)
ACTIVE=()
for kind in "${KINDS[@]}"; do
  ok=1
  for route in api big sse hold; do start_proxy "$kind" "$route" || { ok=0; break; }; done
  if [ "$ok" = 1 ] && check_proxy "$kind-api"; then
    ACTIVE+=("$kind")
    # Memory with the first request's TLS handshake and code mapped.
    sleep 0.2
    mem "${PPID_[$kind-api]}" > "$RES/mem-first-$kind.json"
    log "$kind: ports api=${PPORT[$kind-api]} big=${PPORT[$kind-big]} sse=${PPORT[$kind-sse]} hold=${PPORT[$kind-hold]}"
  else
    note="$kind proxy failed to start or to answer (logs: --keep)"
    warn "$note"
    if [ "$kind" = ours ]; then OURS_NOTE="${OURS_NOTE:+$OURS_NOTE; }$note"
    elif [ "$kind" = nginx ]; then NGINX_NOTE="$note"
    else BASELINE_NOTE="$note"; fi
  fi
done

# The workloads at one worker and at one per core (bench/run's wrk phase): ours
# and the nginx-injector as above (per core) and with one worker process each,
# on the small-JSON route and the 150-event route. MIX: those that started and
# answered a streaming request with the whole answer.
check_stream() { # NAME -> 0 if a streaming POST through it gets the whole 150-event answer
  local code
  code=$(curl -s -m 10 -o "$T/check-$1.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$T/stream-small.json" "http://127.0.0.1:${PPORT[$1]}/v1/responses" 2>&1) || true
  if [ "$code" != 200 ] || ! cmp -s "$T/check-$1.out" "$T/sse150.txt"; then
    warn "$1: the 150-event answer came back as $code, $(wc -c < "$T/check-$1.out" 2>/dev/null || echo 0) bytes"
    tail -10 "$T/log-$1.txt" >&2
    return 1
  fi
}
MIX=()
if [[ ",$PHASES," == *",wrk,"* ]]; then
  for kind in ours1 ours nginx1 nginx; do
    case " ${ACTIVE[*]} " in *" ${kind%1} "*) ;; *) continue ;; esac
    # quick runs (the CI smoke) take the one-worker instances through the
    # SSE-heavy workload only
    routes=(ev); [ "$kind" != "${kind%1}" ] && [ "$QUICK" != 1 ] && routes=(api ev)
    ok=1
    for route in "${routes[@]}"; do start_proxy "$kind" "$route" || { ok=0; break; }; done
    if [ "$ok" = 1 ] && { [ -z "${PPORT[$kind-api]:-}" ] || check_proxy "$kind-api"; } && check_stream "$kind-ev"; then
      MIX+=("$kind")
    else
      warn "$kind: not measured in the workloads at one worker and one per core"
    fi
  done
fi
