#!/usr/bin/env bash
# A private RabbitMQ node (with the AMQP 1.0 plugin) for Quark's interop tests.
#
#   scripts/rabbitmq.sh start [--owner PID]  start the node unless it is up; returns once an AMQP 1.0
#                                            login works
#   scripts/rabbitmq.sh stop [--owner PID]   stop the node (and the epmd its start launched), leaving
#                                            nothing running
#   scripts/rabbitmq.sh status               exit 0 when the node is up and an AMQP 1.0 login works
#   scripts/rabbitmq.sh ctl ARGS...          run rabbitmqctl against the node (`ctl close_all_connections x`)
#   scripts/rabbitmq.sh clean                stop the node and delete its directory
#
# Test suites pass --owner (their process id): `start --owner` registers the suite as a user of the
# node, `stop --owner` unregisters it and stops the node only when no live suite still uses it and
# the node was not started by hand (`start` without --owner, which leaves it running until `stop`).
# Starts and stops are serialised with flock, so concurrent test runs share one node.
#
# The node is separate from any system broker: its own node name, config, database, logs, pid file,
# enabled-plugins file and Erlang cookie (HOME), all in one directory, and its listeners on
# 127.0.0.1 only. It runs as the calling user (root on CI), not through the Debian wrappers in
# /usr/sbin that switch to the `rabbitmq` user and its home.
#
# Environment:
#   QUARK_RABBITMQ_PORT           AMQP port (default 5673, beside a system broker's 5672); the
#                                 Erlang distribution port is this + 20000
#   QUARK_RABBITMQ_DIR            the node's directory (default ${TMPDIR:-/tmp}/quark-rabbitmq-<port>)
#   QUARK_RABBITMQ_START_TIMEOUT  seconds to wait for the first AMQP 1.0 login (default 90)
#   QUARK_RABBITMQ_HOME           RabbitMQ's bin directory (default /usr/lib/rabbitmq/bin)
set -euo pipefail

PORT=${QUARK_RABBITMQ_PORT:-5673}
[[ $PORT =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 45536)) || { echo "rabbitmq.sh: bad QUARK_RABBITMQ_PORT '$PORT'" >&2; exit 2; }
DIST_PORT=$((PORT + 20000))
DIR=${QUARK_RABBITMQ_DIR:-${TMPDIR:-/tmp}/quark-rabbitmq-${PORT}}
START_TIMEOUT=${QUARK_RABBITMQ_START_TIMEOUT:-90}
BIN=${QUARK_RABBITMQ_HOME:-/usr/lib/rabbitmq/bin}
NODE="quark-test-${PORT}@localhost"

say() { echo "rabbitmq.sh: $*" >&2; }

if [[ ! -x $BIN/rabbitmq-server || ! -x $BIN/rabbitmqctl ]]; then
  say "RabbitMQ is not installed (no $BIN/rabbitmq-server). On Debian: apt-get install rabbitmq-server"
  exit 3
fi

# Everything RabbitMQ and Erlang read from the environment, pointed at the private directory.
export HOME=$DIR/home # the Erlang cookie: made here by the first start, used by every CLI call
export RABBITMQ_NODENAME=$NODE
export RABBITMQ_USE_LONGNAME=false
export RABBITMQ_CONFIG_FILE=$DIR/rabbitmq.conf
export RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/advanced.config
export RABBITMQ_CONF_ENV_FILE=$DIR/rabbitmq-env.conf
export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
export RABBITMQ_MNESIA_BASE=$DIR/mnesia
export RABBITMQ_LOG_BASE=$DIR/log
export RABBITMQ_PID_FILE=$DIR/rabbitmq.pid
export RABBITMQ_DIST_PORT=$DIST_PORT
export ERL_EPMD_ADDRESS=127.0.0.1
export LC_ALL=C.UTF-8 # the CLI tools (Elixir) warn without a UTF-8 locale
unset RABBITMQ_NODE_IP_ADDRESS RABBITMQ_NODE_PORT RABBITMQ_SERVER_START_ARGS RABBITMQ_CTL_ERL_ARGS

ctl() { "$BIN/rabbitmqctl" -n "$NODE" "$@"; }

pid_alive() {
  local pid
  [[ -s $RABBITMQ_PID_FILE ]] || return 1
  pid=$(tr -dc 0-9 <"$RABBITMQ_PID_FILE")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# One AMQP 1.0 connection: SASL PLAIN as guest, then open, the broker's open, close. Exit 0 only if
# the broker answers with an AMQP 1.0 open (so the plugin is running, not just the listener).
probe() {
  node - "$PORT" <<'EOF'
const net = require('node:net');
const port = Number(process.argv[2]);
const frame = (body) => { const h = Buffer.alloc(8); h.writeUInt32BE(8 + body.length, 0); h[4] = 2; h[5] = 1; return Buffer.concat([h, body]); };
const amqpFrame = (body) => { const f = frame(body); f[5] = 0; return f; };
const str = (s) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from([0xa1, b.length]), b]); };
const list = (code, items) => { const body = Buffer.concat(items); return Buffer.concat([Buffer.from([0x00, 0x53, code, 0xc0, body.length + 1, items.length]), body]); };
const saslInit = list(0x41, [Buffer.from([0xa3, 5]), Buffer.from('PLAIN'), Buffer.from([0xa0, 12]), Buffer.from('\0guest\0guest')]);
const open = list(0x10, [str('quark-rabbitmq-probe')]);
const close = list(0x18, []);
const sock = net.connect({ host: '127.0.0.1', port });
let buf = Buffer.alloc(0); let stage = 0;
const done = (code) => { sock.destroy(); process.exit(code); };
setTimeout(() => done(1), 3000).unref();
sock.on('error', () => done(1));
sock.on('close', () => done(1));
sock.on('connect', () => sock.write(Buffer.from('AMQP\x03\x01\x00\x00', 'latin1')));
sock.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    if (stage === 0 || stage === 2) { // a protocol header
      if (buf.length < 8) return;
      const want = stage === 0 ? 'AMQP\x03\x01\x00\x00' : 'AMQP\x00\x01\x00\x00';
      if (buf.subarray(0, 8).toString('latin1') !== want) done(1);
      buf = buf.subarray(8); stage++;
      continue;
    }
    if (buf.length < 8) return;
    const size = buf.readUInt32BE(0);
    if (buf.length < size) return;
    const body = buf.subarray(buf[4] * 4, size); buf = buf.subarray(size);
    if (body.length < 3) continue; // an empty (heartbeat) frame
    const code = body[2];
    if (stage === 1 && code === 0x40) { sock.write(frame(saslInit)); continue; } // sasl-mechanisms
    if (stage === 1 && code === 0x44) { // sasl-outcome: its first field is the code
      const at = body[3] === 0xc0 ? 6 : 12; // list8 or list32
      if (body[at] !== 0x50 || body[at + 1] !== 0) done(1);
      sock.write(Buffer.concat([Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), amqpFrame(open)]));
      stage = 2; continue;
    }
    if (stage === 3 && code === 0x10) { sock.write(amqpFrame(close)); stage = 4; continue; } // the broker's open: logged in
    if (code === 0x18) done(stage === 4 ? 0 : 1); // the broker's close: the answer to ours, or a refusal
  }
});
EOF
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

epmd_running() {
  epmd -names >/dev/null 2>&1
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
  if ! grep -qs rabbitmq_amqp1_0 "$RABBITMQ_ENABLED_PLUGINS_FILE"; then
    "$BIN/rabbitmq-plugins" --offline enable rabbitmq_amqp1_0 >"$RABBITMQ_LOG_BASE/plugins.out" 2>&1 || {
      cat "$RABBITMQ_LOG_BASE/plugins.out" >&2
      say "could not enable rabbitmq_amqp1_0"
      exit 1
    }
  fi
}

# Serialises start and stop across processes (concurrent test runs on one machine).
lock() {
  mkdir -p "$DIR/owners"
  exec 9>"$DIR/lock"
  flock -w 300 9 || { say "could not lock ${DIR}/lock"; exit 1; }
}

# Drops owners whose process is gone; true if any live owner is left.
live_owners() {
  local f pid any=1
  for f in "$DIR"/owners/*; do
    [[ -e $f ]] || continue
    pid=${f##*/}
    if [[ -d /proc/$pid ]]; then any=0; else rm -f "$f"; fi
  done
  return $any
}

start() {
  local owner=$1
  lock
  if pid_alive; then
    if probe; then
      say "node ${NODE} is already up on 127.0.0.1:${PORT}"
      [[ -n $owner ]] && touch "$DIR/owners/$owner"
      [[ -z $owner ]] && touch "$DIR/manual"
      return 0
    fi
  elif port_in_use; then
    say "port ${PORT} is in use by something other than this script's node; set QUARK_RABBITMQ_PORT to another port"
    exit 1
  fi
  if ! pid_alive; then
    write_files
    rm -f "$DIR"/owners/* "$DIR/manual"
    if epmd_running; then rm -f "$DIR/started-epmd"; else touch "$DIR/started-epmd"; fi
    rm -f "$RABBITMQ_PID_FILE"
    say "starting ${NODE} on 127.0.0.1:${PORT} (directory ${DIR})"
    # 9>&-: the node (a daemon) must not inherit the lock, or it would hold it while it runs.
    "$BIN/rabbitmq-server" -detached >"$RABBITMQ_LOG_BASE/start.out" 2>&1 9>&- || {
      cat "$RABBITMQ_LOG_BASE/start.out" >&2
      say "rabbitmq-server -detached failed"
      exit 1
    }
  fi
  local deadline=$((SECONDS + START_TIMEOUT)) t0=$SECONDS
  until probe; do
    if ((SECONDS >= deadline)); then
      say "no AMQP 1.0 login on 127.0.0.1:${PORT} after ${START_TIMEOUT} s; the node's log:"
      tail -n 40 "$RABBITMQ_LOG_BASE/${NODE}.log" >&2 2>/dev/null || true
      stop_node || true
      exit 1
    fi
    sleep 0.25
  done
  [[ -n $owner ]] && touch "$DIR/owners/$owner"
  [[ -z $owner ]] && touch "$DIR/manual"
  say "node ${NODE} is up: AMQP 1.0 login works after $((SECONDS - t0)) s"
}

stop() {
  local owner=$1
  lock
  if [[ -n $owner ]]; then
    rm -f "$DIR/owners/$owner"
    if [[ -e $DIR/manual ]]; then
      say "leaving ${NODE} running: it was started by hand (scripts/rabbitmq.sh stop stops it)"
      return 0
    fi
    if live_owners; then
      say "leaving ${NODE} running: still used by process(es) $(ls "$DIR/owners" | tr '\n' ' ')"
      return 0
    fi
  fi
  stop_node
  rm -f "$DIR"/owners/* "$DIR/manual"
}

stop_node() {
  local pid=""
  [[ -s $RABBITMQ_PID_FILE ]] && pid=$(tr -dc 0-9 <"$RABBITMQ_PID_FILE")
  if pid_alive; then
    say "stopping ${NODE}"
    # `stop <pid_file>` returns once the Erlang VM has exited.
    timeout 60 "$BIN/rabbitmqctl" -n "$NODE" stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      say "the node did not stop: killing pid ${pid}"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$RABBITMQ_PID_FILE"
  # The epmd the first start launched (Erlang leaves it running); -kill refuses while other nodes use it.
  if [[ -e $DIR/started-epmd ]]; then
    epmd -kill >/dev/null 2>&1 || true
    rm -f "$DIR/started-epmd"
  fi
}

status() {
  if pid_alive && probe; then
    echo "up: ${NODE} on 127.0.0.1:${PORT}, pid $(tr -dc 0-9 <"$RABBITMQ_PID_FILE"), directory ${DIR}"
    return 0
  fi
  echo "down: ${NODE} (127.0.0.1:${PORT})"
  return 1
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
owner=""
if [[ $cmd == start || $cmd == stop ]] && [[ ${1:-} == --owner ]]; then
  owner=${2:-}
  [[ $owner =~ ^[0-9]+$ ]] || { say "--owner needs a process id"; exit 2; }
  shift 2
fi
case $cmd in
  start) start "$owner" ;;
  stop) stop "$owner" ;;
  status) status ;;
  ctl) ctl "$@" ;;
  clean) stop ""; rm -rf "$DIR" ;;
  *)
    echo "usage: $0 start [--owner PID] | stop [--owner PID] | status | ctl <rabbitmqctl args> | clean" >&2
    exit 2
    ;;
esac
