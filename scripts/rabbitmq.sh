#!/usr/bin/env bash
# A private RabbitMQ node (with the AMQP 1.0 plugin) for Quark's interop tests.
#
#   scripts/rabbitmq.sh start [--owner PID]  start the node unless it is up; returns once an AMQP 1.0
#                                            login works
#   scripts/rabbitmq.sh stop [--owner PID]   stop the node (and the epmd its start launched), leaving
#                                            nothing running
#   scripts/rabbitmq.sh kill [--owner PID]   SIGKILL the node's Erlang VM (a crash: connections drop
#                                            without a close); with --owner, refused while another live
#                                            process uses the node
#   scripts/rabbitmq.sh revive               start a killed node again; returns once an AMQP 1.0 login
#                                            works (about 2-4 s)
#   scripts/rabbitmq.sh status               exit 0 when the node is up and an AMQP 1.0 login works
#   scripts/rabbitmq.sh ctl ARGS...          run rabbitmqctl against the node (`ctl close_all_connections x`)
#   scripts/rabbitmq.sh clean                stop the node and delete its directory
#
# Test suites pass --owner (their process id): `start --owner` registers the suite as a user of the
# node, `stop --owner` unregisters it and stops the node only when no live suite still uses it and
# the node was not started by hand (`start` without --owner, which leaves it running until `stop`).
# A killed node keeps its users: `revive` (or a `start`) brings it back for them.
# Starts, stops, kills and revives are serialised with flock, so concurrent test runs share one node.
#
# The node is separate from any system broker: its own node name, config, database, logs, pid file,
# enabled-plugins file, plugins directory and Erlang cookie (HOME), all in one directory, and its
# listeners on 127.0.0.1 only. It runs as the calling user (root on CI), not through the Debian
# wrappers in /usr/sbin that switch to the `rabbitmq` user and its home.
#
# Environment:
#   QUARK_RABBITMQ_PORT           AMQP port (default 5673, beside a system broker's 5672); the
#                                 Erlang distribution port is this + 20000
#   QUARK_RABBITMQ_DIR            the node's directory (default ${TMPDIR:-/tmp}/quark-rabbitmq-<port>)
#   QUARK_RABBITMQ_START_TIMEOUT  seconds to wait for the first AMQP 1.0 login (default 90)
#   QUARK_RABBITMQ_HOME           RabbitMQ's bin directory (default /usr/lib/rabbitmq/bin)
#   QUARK_RABBITMQ_TLS_DIR        a directory with ca.pem, server.pem and server-key.pem (PEM,
#                                 unencrypted key): `start` gives the node a TLS listener too
#                                 (amqps, on 127.0.0.1), which asks clients for a certificate
#                                 signed by ca.pem (verify_peer) but lets them in without one, and
#                                 offers SASL PLAIN, AMQPLAIN and EXTERNAL (plugin
#                                 rabbitmq_auth_mechanism_ssl; the user name is the client
#                                 certificate's CN). The files are copied into the node's directory.
#                                 A node already up must have the same files and TLS port, or
#                                 `start` fails (stop it first). Unset: no TLS listener (as before).
#   QUARK_RABBITMQ_TLS_PORT       the TLS listener's port (default AMQP port + 1)
set -euo pipefail

say() { echo "rabbitmq.sh: $*" >&2; }
# shellcheck source-path=SCRIPTDIR source=rabbitmq-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/rabbitmq-lib.sh"

PORT=${QUARK_RABBITMQ_PORT:-5673}
[[ $PORT =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 45536)) || { say "bad QUARK_RABBITMQ_PORT '$PORT'"; exit 2; }
DIST_PORT=$((PORT + 20000))
DIR=${QUARK_RABBITMQ_DIR:-${TMPDIR:-/tmp}/quark-rabbitmq-${PORT}}
START_TIMEOUT=${QUARK_RABBITMQ_START_TIMEOUT:-90}
[[ $START_TIMEOUT =~ ^[0-9]+$ ]] || { say "bad QUARK_RABBITMQ_START_TIMEOUT '$START_TIMEOUT'"; exit 2; }
BIN=$RMQ_BIN
NODE="quark-test-${PORT}@localhost"
TLS_DIR=${QUARK_RABBITMQ_TLS_DIR:-}
TLS_PORT=""
TLS_FILES=(ca.pem server.pem server-key.pem)
if [[ -n $TLS_DIR ]]; then
  TLS_PORT=${QUARK_RABBITMQ_TLS_PORT:-$((PORT + 1))}
  [[ $TLS_PORT =~ ^[0-9]+$ ]] && ((TLS_PORT > 0 && TLS_PORT < 65536 && TLS_PORT != PORT && TLS_PORT != DIST_PORT)) ||
    { say "bad QUARK_RABBITMQ_TLS_PORT '$TLS_PORT'"; exit 2; }
fi

rmq_require_installed

# Everything RabbitMQ and Erlang read from the environment, pointed at the private directory.
export HOME=$DIR/home # the Erlang cookie: made here by the first start, used by every CLI call
export RABBITMQ_NODENAME=$NODE
export RABBITMQ_USE_LONGNAME=false
export RABBITMQ_CONFIG_FILE=$DIR/rabbitmq.conf
export RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/advanced.config
export RABBITMQ_CONF_ENV_FILE=$DIR/rabbitmq-env.conf
export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
export RABBITMQ_PLUGINS_DIR=$DIR/plugins
export RABBITMQ_MNESIA_BASE=$DIR/mnesia
export RABBITMQ_LOG_BASE=$DIR/log
export RABBITMQ_PID_FILE=$DIR/rabbitmq.pid
export RABBITMQ_DIST_PORT=$DIST_PORT
export ERL_EPMD_ADDRESS=127.0.0.1
export LC_ALL=C.UTF-8 # the CLI tools (Elixir) warn without a UTF-8 locale
unset RABBITMQ_NODE_IP_ADDRESS RABBITMQ_NODE_PORT RABBITMQ_SERVER_START_ARGS RABBITMQ_CTL_ERL_ARGS

ctl() { "$BIN/rabbitmqctl" -n "$NODE" "$@"; }

pid_alive() { rmq_pid_of "$RABBITMQ_PID_FILE" >/dev/null; }

probe() { rmq_probe "$PORT" "$@"; }

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/${1:-$PORT}") 2>/dev/null
}

# Fails unless QUARK_RABBITMQ_TLS_DIR has the files a TLS listener needs.
check_tls_dir() {
  local f
  for f in "${TLS_FILES[@]}"; do
    [[ -s $TLS_DIR/$f ]] || { say "QUARK_RABBITMQ_TLS_DIR (${TLS_DIR}) has no ${f}: it needs ${TLS_FILES[*]}"; exit 2; }
  done
}

# True if the node (up) was started with the TLS listener asked for now: same port, same files.
node_has_requested_tls() {
  local f
  [[ -n $TLS_DIR ]] || return 0
  [[ -e $DIR/tls/port && $(<"$DIR/tls/port") == "$TLS_PORT" ]] || return 1
  for f in "${TLS_FILES[@]}"; do cmp -s "$TLS_DIR/$f" "$DIR/tls/$f" || return 1; done
}

# The TLS port of the node's configuration (empty without one).
configured_tls_port() {
  [[ -e $DIR/tls/port ]] && cat "$DIR/tls/port"
  return 0
}

write_files() {
  mkdir -p "$DIR" "$HOME" "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
  cat >"$RABBITMQ_CONFIG_FILE" <<EOF
# Written by scripts/rabbitmq.sh: a private test node on loopback only.
listeners.tcp.default = 127.0.0.1:${PORT}
distribution.listener.interface = 127.0.0.1
distribution.listener.port_range.min = ${DIST_PORT}
distribution.listener.port_range.max = ${DIST_PORT}
loopback_users.guest = true
log.file.level = info
# RabbitMQ advertises an idle-time-out of heartbeat * 1000 ms and drops a client silent for about
# four times that: 1 s makes every test depend on our empty frames (the default is 60 s).
heartbeat = 1
log.console = false
# Tests send 5+ MiB messages and thousands of messages in bursts.
vm_memory_high_watermark.relative = 0.8
disk_free_limit.absolute = 50MB
EOF
  : >"$RABBITMQ_CONF_ENV_FILE"
  rm -f "$RABBITMQ_ADVANCED_CONFIG_FILE"
  rm -rf "$DIR/tls"
  if [[ -z $TLS_DIR ]]; then
    # What `rabbitmq-plugins --offline enable rabbitmq_amqp1_0` writes, without its 1-2 s start-up.
    echo '[rabbitmq_amqp1_0].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
    rmq_make_plugins_dir "$RABBITMQ_PLUGINS_DIR" || exit 1
    return 0
  fi
  local f
  mkdir -p "$DIR/tls"
  for f in "${TLS_FILES[@]}"; do cp "$TLS_DIR/$f" "$DIR/tls/$f"; done
  chmod 600 "$DIR/tls/server-key.pem"
  echo "$TLS_PORT" >"$DIR/tls/port"
  cat >>"$RABBITMQ_CONFIG_FILE" <<EOF
# TLS (QUARK_RABBITMQ_TLS_DIR): amqps on 127.0.0.1:${TLS_PORT}. Clients are asked for a certificate
# signed by ca.pem, but one without a certificate gets in too (and may use PLAIN); EXTERNAL logs a
# client in as the user named by its certificate's CN. (RabbitMQ offers EXTERNAL on every TLS
# connection, with or without a client certificate, and on no plain TCP one.)
listeners.ssl.default = 127.0.0.1:${TLS_PORT}
ssl_options.cacertfile = ${DIR}/tls/ca.pem
ssl_options.certfile = ${DIR}/tls/server.pem
ssl_options.keyfile = ${DIR}/tls/server-key.pem
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name
EOF
  # (The same as `rabbitmq-plugins --offline enable`.)
  echo '[rabbitmq_amqp1_0,rabbitmq_auth_mechanism_ssl].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  rmq_make_plugins_dir "$RABBITMQ_PLUGINS_DIR" rabbitmq_auth_mechanism_ssl || exit 1
}

# Waits (a few seconds at most) for the TLS listener, if the node has one, to accept connections.
await_tls_listener() {
  local port i
  port=$(configured_tls_port)
  [[ -n $port ]] || return 0
  for ((i = 0; i < 100; i++)); do port_in_use "$port" && return 0; sleep 0.05; done
  say "the node logs in on ${PORT} but its TLS listener on 127.0.0.1:${port} accepts no connection; the end of its log:"
  tail -n 40 "$RABBITMQ_LOG_BASE/${NODE}.log" >&2 2>/dev/null || true
  stop_node || true
  exit 1
}


# Starts the Erlang VM of the node (which must be down). The caller waits for the login.
launch() {
  rm -f "$RABBITMQ_PID_FILE"
  # 9>&-: the node (a daemon) must not inherit the lock, or it would hold it while it runs.
  "$BIN/rabbitmq-server" -detached >"$RABBITMQ_LOG_BASE/start.out" 2>&1 9>&- || {
    cat "$RABBITMQ_LOG_BASE/start.out" >&2
    say "rabbitmq-server -detached failed"
    exit 1
  }
}

# Waits for the first AMQP 1.0 login; on failure shows the log, stops the node and exits.
await_login() {
  local rc=0
  probe "$START_TIMEOUT" "$RABBITMQ_PID_FILE" || rc=$?
  if ((rc == 0)); then
    await_tls_listener
    return 0
  fi
  if ((rc == 2)); then
    say "the node's Erlang VM died while booting; the end of its log:"
  else
    say "no AMQP 1.0 login on 127.0.0.1:${PORT} after ${START_TIMEOUT} s; the end of the node's log:"
  fi
  tail -n 40 "$RABBITMQ_LOG_BASE/${NODE}.log" >&2 2>/dev/null || true
  tail -n 20 "$RABBITMQ_LOG_BASE/start.out" >&2 2>/dev/null || true
  stop_node || true
  exit 1
}

register() {
  if [[ -n $1 ]]; then touch "$DIR/owners/$1"; else touch "$DIR/manual"; fi
}

start() {
  local owner=$1
  [[ -z $TLS_DIR ]] || check_tls_dir
  lock
  if pid_alive; then
    if ! node_has_requested_tls; then
      if [[ -z $(configured_tls_port) ]]; then
        say "node ${NODE} is up without a TLS listener, but QUARK_RABBITMQ_TLS_DIR asks for one: stop it first (scripts/rabbitmq.sh stop), or use another QUARK_RABBITMQ_PORT"
      else
        say "node ${NODE} is up with other TLS certificates or another TLS port ($(configured_tls_port)) than QUARK_RABBITMQ_TLS_DIR asks for (another test run may be using it): stop it first (scripts/rabbitmq.sh stop), or use another QUARK_RABBITMQ_PORT"
      fi
      exit 1
    fi
    if probe; then
      say "node ${NODE} is already up on 127.0.0.1:${PORT}"
      register "$owner"
      return 0
    fi
  elif port_in_use; then
    say "port ${PORT} is in use by something other than this script's node; set QUARK_RABBITMQ_PORT to another port"
    exit 1
  elif [[ -n $TLS_PORT ]] && port_in_use "$TLS_PORT"; then
    say "TLS port ${TLS_PORT} is in use by something else; set QUARK_RABBITMQ_TLS_PORT (or QUARK_RABBITMQ_PORT) to another port"
    exit 1
  fi
  local t0=$SECONDS
  if ! pid_alive; then
    write_files
    if [[ -e $DIR/killed ]]; then
      live_owners || true # a killed node keeps its users (and its hand-started mark)
    else
      rm -f "$DIR"/owners/* "$DIR/manual"
    fi
    rm -f "$DIR/killed"
    rmq_epmd_before_start
    say "starting ${NODE} on 127.0.0.1:${PORT}${TLS_PORT:+ and TLS on 127.0.0.1:${TLS_PORT}} (directory ${DIR})"
    launch
  fi
  await_login
  register "$owner"
  say "node ${NODE} is up: AMQP 1.0 login works after $((SECONDS - t0)) s"
}

stop() {
  local owner=$1
  lock
  release_owner "$owner" "$NODE" || return 0
  stop_node
  rm -f "$DIR"/owners/* "$DIR/manual" "$DIR/killed"
}

stop_node() {
  local pid i
  if pid=$(rmq_pid_of "$RABBITMQ_PID_FILE") && rmq_is_node_vm "$pid" "$RABBITMQ_PID_FILE"; then
    say "stopping ${NODE}"
    # RabbitMQ (3.8+) stops gracefully on SIGTERM, as `rabbitmqctl stop` does, in about 1 s
    # instead of 3-6 s (no CLI tool to start).
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do rmq_proc_alive "$pid" || break; sleep 0.1; done
    if rmq_proc_alive "$pid"; then
      say "the node did not stop within 30 s: killing pid ${pid}"
      rmq_kill_vm "$RABBITMQ_PID_FILE" || true
    fi
  fi
  rm -f "$RABBITMQ_PID_FILE"
  # (A node started by an older version of this script marked its epmd here.)
  [[ -e $DIR/started-epmd ]] && touch "$RMQ_EPMD_MARKER" && rm -f "$DIR/started-epmd"
  rmq_epmd_release
}

kill_node() {
  local owner=$1 t0=$EPOCHREALTIME
  lock
  if [[ -n $owner ]] && live_owners "$owner"; then
    say "not killing ${NODE}: other test processes use it too ($(owners_list "$owner")); give a chaos suite a node of its own (QUARK_RABBITMQ_PORT)"
    exit 1
  fi
  rmq_kill_vm "$RABBITMQ_PID_FILE" || { say "cannot kill ${NODE}"; exit 1; }
  touch "$DIR/killed"
  say "killed ${NODE} (SIGKILL) in $(ms_since "$t0") ms"
}

revive() {
  local t0=$EPOCHREALTIME
  lock
  if pid_alive; then
    probe 10 "$RABBITMQ_PID_FILE" || { say "node ${NODE} runs but no AMQP 1.0 login works"; exit 1; }
    say "node ${NODE} is already up"
    return 0
  fi
  live_owners || true
  if [[ ! -e $DIR/manual ]] && ! compgen -G "$DIR/owners/*" >/dev/null; then
    say "node ${NODE} is not in use (never started, stopped, or every user has gone): use start"
    exit 1
  fi
  port_in_use && { say "port ${PORT} is in use by something other than this script's node"; exit 1; }
  local tls_port
  tls_port=$(configured_tls_port)
  [[ -n $tls_port ]] && port_in_use "$tls_port" && { say "TLS port ${tls_port} is in use by something other than this script's node"; exit 1; }
  launch
  await_login
  rm -f "$DIR/killed"
  say "revived ${NODE}: AMQP 1.0 login works after $(ms_since "$t0") ms"
}

ms_since() {
  local now=$EPOCHREALTIME
  echo $(((${now/./} - ${1/./}) / 1000))
}

status() {
  if pid_alive && probe; then
    local tls_port
    tls_port=$(configured_tls_port)
    echo "up: ${NODE} on 127.0.0.1:${PORT}${tls_port:+ (TLS on 127.0.0.1:${tls_port})}, pid $(tr -dc 0-9 <"$RABBITMQ_PID_FILE"), directory ${DIR}"
    return 0
  fi
  if [[ -e $DIR/killed ]]; then echo "killed: ${NODE} (127.0.0.1:${PORT}); revive starts it again"; else echo "down: ${NODE} (127.0.0.1:${PORT})"; fi
  return 1
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
owner=""
if [[ $cmd == start || $cmd == stop || $cmd == kill ]] && [[ ${1:-} == --owner ]]; then
  owner=${2:-}
  [[ $owner =~ ^[0-9]+$ ]] || { say "--owner needs a process id"; exit 2; }
  shift 2
fi
case $cmd in
  start) start "$owner" ;;
  stop) stop "$owner" ;;
  kill) kill_node "$owner" ;;
  revive) revive ;;
  status) status ;;
  ctl) ctl "$@" ;;
  clean) stop ""; rm -rf "$DIR" ;;
  *)
    echo "usage: $0 start [--owner PID] | stop [--owner PID] | kill [--owner PID] | revive | status | ctl <rabbitmqctl args> | clean" >&2
    exit 2
    ;;
esac
