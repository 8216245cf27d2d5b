#!/usr/bin/env bash
# A private three-node RabbitMQ cluster (with the AMQP 1.0 plugin) on loopback, for Quark's
# failover (chaos) tests.
#
#   scripts/rabbitmq-cluster.sh start [--owner PID]  start a fresh cluster; returns once all three
#                                                    nodes take AMQP 1.0 logins and form one cluster
#   scripts/rabbitmq-cluster.sh stop [--owner PID]   stop every node (and the epmd the start
#                                                    launched), leaving nothing running
#   scripts/rabbitmq-cluster.sh kill N...            SIGKILL node N's Erlang VM (a crash: its
#                                                    connections drop without a close)
#   scripts/rabbitmq-cluster.sh revive N...          start killed node(s) N again; returns once each
#                                                    takes AMQP 1.0 logins (it rejoins the cluster
#                                                    while it boots)
#   scripts/rabbitmq-cluster.sh status               each node's state and the running members;
#                                                    exit 0 when all three are up
#   scripts/rabbitmq-cluster.sh ctl N ARGS...        run rabbitmqctl against node N
#   scripts/rabbitmq-cluster.sh declare-quorum NAME  declare the durable quorum queue NAME (members
#                                                    on every running node; address /amq/queue/NAME)
#
# Nodes quark-cluster-1@localhost .. quark-cluster-3@localhost; node N listens for AMQP on
# 127.0.0.1:(QUARK_RABBITMQ_CLUSTER_PORT + N - 1) (default 5681-5683) and for Erlang distribution on
# 127.0.0.1:(that + 20000). One shared Erlang cookie (one HOME); one directory for everything:
# ${TMPDIR:-/tmp}/quark-rabbitmq-cluster-<port>. The three boot at once: node 1 forms the cluster
# and nodes 2 and 3 join it by classic-config peer discovery as they boot (no rabbitmqctl
# join_cluster round trips, which cost seconds each).
#
# Every `start` of a stopped cluster is a fresh one (empty databases). A cluster is used by one test
# process at a time (its chaos would break another's tests): `start --owner` fails while another
# live process owns the cluster, and a cluster left behind by a process that died is started afresh.
# A cluster started by hand (`start` without --owner) is reused as it is by `start --owner` (its
# killed nodes revived) and left running by `stop --owner`, as with scripts/rabbitmq.sh; so is one
# that the same process already owns.
# Keep a majority of nodes running (a quorum queue needs one): a node revived while all the others
# are down may wait (Mnesia: up to 5 min) for the one that went down last; `revive 1 2 3` starts
# nodes together (about 5 s for all three).
#
# Environment:
#   QUARK_RABBITMQ_CLUSTER_PORT           AMQP port of node 1 (default 5681)
#   QUARK_RABBITMQ_CLUSTER_DIR            the cluster's directory
#   QUARK_RABBITMQ_CLUSTER_START_TIMEOUT  seconds to wait for a node's first AMQP 1.0 login (default 90)
#   QUARK_RABBITMQ_HOME                   RabbitMQ's bin directory (default /usr/lib/rabbitmq/bin)
set -euo pipefail

say() { echo "rabbitmq-cluster.sh: $*" >&2; }
# shellcheck source-path=SCRIPTDIR source=rabbitmq-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/rabbitmq-lib.sh"

NODES=3
BASE=${QUARK_RABBITMQ_CLUSTER_PORT:-5681}
[[ $BASE =~ ^[0-9]+$ ]] && ((BASE > 0 && BASE + NODES - 1 < 45536)) || { say "bad QUARK_RABBITMQ_CLUSTER_PORT '$BASE'"; exit 2; }
DIR=${QUARK_RABBITMQ_CLUSTER_DIR:-${TMPDIR:-/tmp}/quark-rabbitmq-cluster-${BASE}}
START_TIMEOUT=${QUARK_RABBITMQ_CLUSTER_START_TIMEOUT:-90}
[[ $START_TIMEOUT =~ ^[0-9]+$ ]] || { say "bad QUARK_RABBITMQ_CLUSTER_START_TIMEOUT '$START_TIMEOUT'"; exit 2; }
BIN=$RMQ_BIN

rmq_require_installed

# Shared by all nodes and every CLI call.
export HOME=$DIR/home # the one Erlang cookie
export RABBITMQ_USE_LONGNAME=false
export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
export RABBITMQ_PLUGINS_DIR=$DIR/plugins
export ERL_EPMD_ADDRESS=127.0.0.1
export LC_ALL=C.UTF-8 # the CLI tools (Elixir) warn without a UTF-8 locale
unset RABBITMQ_NODE_IP_ADDRESS RABBITMQ_NODE_PORT RABBITMQ_SERVER_START_ARGS RABBITMQ_CTL_ERL_ARGS RABBITMQ_NODENAME

node_name() { echo "quark-cluster-$1@localhost"; }
amqp_port() { echo $((BASE + $1 - 1)); }
dist_port() { echo $((BASE + $1 - 1 + 20000)); }
node_dir() { echo "$DIR/node$1"; }
pid_file() { echo "$DIR/node$1/rabbitmq.pid"; }
node_alive() { rmq_pid_of "$(pid_file "$1")" >/dev/null; }

# The environment of node N (for rabbitmq-server and rabbitmqctl); call in a subshell.
node_env() {
  local d
  d=$(node_dir "$1")
  export RABBITMQ_NODENAME
  RABBITMQ_NODENAME=$(node_name "$1")
  export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
  export RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config
  export RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf
  export RABBITMQ_MNESIA_BASE=$d/mnesia
  export RABBITMQ_LOG_BASE=$d/log
  export RABBITMQ_PID_FILE=$d/rabbitmq.pid
  export RABBITMQ_DIST_PORT
  RABBITMQ_DIST_PORT=$(dist_port "$1")
}

ctl() {
  local n=$1
  shift
  (node_env "$n" && "$BIN/rabbitmqctl" -n "$(node_name "$n")" "$@")
}

check_node_arg() {
  [[ $1 =~ ^[1-9][0-9]*$ ]] && (($1 <= NODES)) || { say "no node '$1': nodes are 1 to ${NODES}"; exit 2; }
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A fresh directory for node N: config, empty database and logs.
write_node_files() {
  local n=$1 d i
  d=$(node_dir "$n")
  rm -rf "$d"
  mkdir -p "$d/mnesia" "$d/log"
  {
    echo "# Written by scripts/rabbitmq-cluster.sh: node $n of a private test cluster on loopback only."
    echo "listeners.tcp.default = 127.0.0.1:$(amqp_port "$n")"
    echo "distribution.listener.interface = 127.0.0.1"
    echo "distribution.listener.port_range.min = $(dist_port "$n")"
    echo "distribution.listener.port_range.max = $(dist_port "$n")"
    if ((n > 1)); then
      # Joins node 1 on its first boot (a node with a database rejoins its cluster by itself). It
      # tries every 250 ms for 60 s, so all three can boot at once: node 1 has no peers to look for
      # and forms the cluster, the others join it once it is up.
      echo "cluster_formation.peer_discovery_backend = classic_config"
      echo "cluster_formation.classic_config.nodes.1 = $(node_name 1)"
      echo "cluster_formation.discovery_retry_limit = 240"
      echo "cluster_formation.discovery_retry_interval = 250"
    fi
    cat <<'EOF'
loopback_users.guest = true
log.file.level = info
log.console = false
# As scripts/rabbitmq.sh: RabbitMQ advertises an idle-time-out of 1 s and drops a client silent
# for about four times that.
heartbeat = 1
vm_memory_high_watermark.relative = 0.8
disk_free_limit.absolute = 50MB
EOF
  } >"$d/rabbitmq.conf"
  : >"$d/rabbitmq-env.conf"
}

write_shared_files() {
  mkdir -p "$HOME"
  # One cookie for all, written before any node starts (three first starts would race to make it).
  if [[ ! -s $HOME/.erlang.cookie ]]; then
    (umask 077 && head -c 30 /dev/urandom | od -An -tx1 | tr -dc a-f0-9 | tr a-f A-F >"$HOME/.erlang.cookie")
    chmod 400 "$HOME/.erlang.cookie"
  fi
  echo '[rabbitmq_amqp1_0].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  rmq_make_plugins_dir "$RABBITMQ_PLUGINS_DIR" || exit 1
}


register() {
  if [[ -n $1 ]]; then touch "$DIR/owners/$1"; else touch "$DIR/manual"; fi
}

any_node_alive() {
  local n
  for ((n = 1; n <= NODES; n++)); do node_alive "$n" && return 0; done
  return 1
}

ms_since() {
  local now=$EPOCHREALTIME
  echo $(((${now/./} - ${1/./}) / 1000))
}

# Starts node N's Erlang VM (the node must be down); await_nodes waits for the login.
launch() {
  local n=$1 d
  d=$(node_dir "$n")
  rm -f "$d/rabbitmq.pid"
  # 9>&-: the node (a daemon) must not inherit the lock, or it would hold it while it runs.
  (node_env "$n" && exec "$BIN/rabbitmq-server" -detached) >"$d/log/start.out" 2>&1 9>&- || {
    cat "$d/log/start.out" >&2
    say "rabbitmq-server -detached failed for node $n"
    return 1
  }
}

# Waits for an AMQP 1.0 login on each given node, in parallel; on failure shows the node's log.
await_nodes() {
  local n rc failed=0
  local -A probes=()
  for n in "$@"; do
    rmq_probe "$(amqp_port "$n")" "$START_TIMEOUT" "$(pid_file "$n")" &
    probes[$n]=$!
  done
  for n in "$@"; do
    rc=0
    wait "${probes[$n]}" || rc=$?
    ((rc == 0)) && continue
    failed=1
    if ((rc == 2)); then
      say "node $n's Erlang VM died while booting; the end of its log:"
    else
      say "no AMQP 1.0 login on node $n (127.0.0.1:$(amqp_port "$n")) after ${START_TIMEOUT} s; the end of its log:"
    fi
    tail -n 40 "$(node_dir "$n")/log/$(node_name "$n").log" >&2 2>/dev/null || true
    tail -n 20 "$(node_dir "$n")/log/start.out" >&2 2>/dev/null || true
  done
  return $failed
}

# The running members as node N sees them, one name a line.
running_members() {
  ctl "$1" eval 'io:format("~s~n", [string:join([atom_to_list(N) || N <- lists:sort(rabbit_nodes:all_running())], " ")]).' 2>/dev/null |
    head -n 1
}

expected_members() {
  local n names=()
  for ((n = 1; n <= NODES; n++)); do names+=("$(node_name "$n")"); done
  echo "${names[*]}"
}

start() {
  local owner=$1 t0=$EPOCHREALTIME n
  lock
  if any_node_alive; then
    if [[ -n $owner ]] && live_owners "$owner"; then
      say "the cluster is in use by process(es) $(owners_list "$owner"): one test process at a time (or set QUARK_RABBITMQ_CLUSTER_PORT for another cluster)"
      exit 1
    fi
    if [[ -z $owner || -e $DIR/manual || -e $DIR/owners/$owner ]]; then
      local dead=()
      for ((n = 1; n <= NODES; n++)); do node_alive "$n" || dead+=("$n"); done
      if ((${#dead[@]})); then
        say "reviving node(s) ${dead[*]} of the running cluster"
        for n in "${dead[@]}"; do launch "$n" || exit 1; done
      fi
      local all=(); for ((n = 1; n <= NODES; n++)); do all+=("$n"); done
      await_nodes "${all[@]}" || exit 1
      register "$owner"
      say "the cluster is up (reused): 127.0.0.1:$(amqp_port 1)-$(amqp_port "$NODES")"
      return 0
    fi
    say "stopping a cluster left running by a process that has gone, to start a fresh one"
    stop_all
  fi
  for ((n = 1; n <= NODES; n++)); do
    if port_in_use "$(amqp_port "$n")" || port_in_use "$(dist_port "$n")"; then
      say "port $(amqp_port "$n") or $(dist_port "$n") is in use by something other than this cluster; set QUARK_RABBITMQ_CLUSTER_PORT to another port"
      exit 1
    fi
    if epmd -names 2>/dev/null | grep -q "^name quark-cluster-$n at"; then
      say "a node named $(node_name "$n") already runs on this machine (another cluster directory?); stop it first"
      exit 1
    fi
  done
  rm -f "$DIR"/owners/* "$DIR/manual"
  # Nodes booting together can race in forming the cluster (seen under load: node 1 waiting for
  # tables of node 2); a failed formation is wiped and tried once more.
  local try
  for try in 1 2; do
    if form_cluster; then
      register "$owner"
      say "the cluster is up in $(ms_since "$t0") ms: $(running_members 1)"
      return 0
    fi
    stop_all
    ((try == 1)) && say "the cluster did not form; starting it afresh once more"
  done
  exit 1
}

# Starts every node with an empty database: node 1 first, then the others, which join it.
form_cluster() {
  local n rest=()
  write_shared_files
  for ((n = 1; n <= NODES; n++)); do write_node_files "$n"; done
  rmq_epmd_before_start
  touch "$DIR/running"
  say "starting nodes $(node_name 1) .. $(node_name "$NODES") on 127.0.0.1:$(amqp_port 1)-$(amqp_port "$NODES") (directory ${DIR})"
  launch 1 || return 1
  await_nodes 1 || return 1
  for ((n = 2; n <= NODES; n++)); do rest+=("$n"); launch "$n" || return 1; done
  await_nodes "${rest[@]}" || return 1
  local members
  members=$(running_members 1)
  if [[ $members != "$(expected_members)" ]]; then
    say "the nodes did not form one cluster: node 1 sees running members '${members}'"
    return 1
  fi
  return 0
}

# SIGTERM (RabbitMQ's graceful stop) to every node at once, SIGKILL after 30 s; then epmd.
stop_all() {
  local n pid pids=() i
  for ((n = 1; n <= NODES; n++)); do
    if pid=$(rmq_pid_of "$(pid_file "$n")") && rmq_is_node_vm "$pid" "$(pid_file "$n")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$n:$pid")
    fi
  done
  ((${#pids[@]})) && say "stopping node(s) $(printf '%s ' "${pids[@]%%:*}")"
  for ((i = 0; i < 300; i++)); do
    local left=0
    for n in "${pids[@]}"; do rmq_proc_alive "${n#*:}" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for n in "${pids[@]}"; do
    if rmq_proc_alive "${n#*:}"; then
      say "node ${n%%:*} did not stop within 30 s: killing it"
      rmq_kill_vm "$(pid_file "${n%%:*}")" || true
    fi
  done
  for ((n = 1; n <= NODES; n++)); do rm -f "$(pid_file "$n")" "$(node_dir "$n")/killed"; done
  rm -f "$DIR/running"
  rmq_epmd_release
}

stop() {
  local owner=$1
  lock
  release_owner "$owner" "the cluster" || return 0
  stop_all
  rm -f "$DIR"/owners/* "$DIR/manual"
}

kill_nodes() {
  local n t0=$EPOCHREALTIME
  (($#)) || { say "kill: which node(s)? (1 to ${NODES})"; exit 2; }
  for n in "$@"; do check_node_arg "$n"; done
  lock
  for n in "$@"; do
    rmq_kill_vm "$(pid_file "$n")" || { say "cannot kill node $n"; exit 1; }
    touch "$(node_dir "$n")/killed"
  done
  say "killed node(s) $* (SIGKILL) in $(ms_since "$t0") ms"
}

revive_nodes() {
  local n t0=$EPOCHREALTIME todo=()
  (($#)) || { say "revive: which node(s)? (1 to ${NODES})"; exit 2; }
  for n in "$@"; do check_node_arg "$n"; done
  lock
  [[ -e $DIR/running ]] || { say "the cluster is not started: use start"; exit 1; }
  for n in "$@"; do
    if node_alive "$n"; then
      say "node $n is already running"
    else
      port_in_use "$(amqp_port "$n")" && { say "port $(amqp_port "$n") is in use by something other than node $n"; exit 1; }
      todo+=("$n")
    fi
  done
  for n in "${todo[@]}"; do launch "$n" || exit 1; done
  await_nodes "$@" || exit 1
  for n in "${todo[@]}"; do rm -f "$(node_dir "$n")/killed"; done
  say "revived node(s) ${todo[*]:-none}: AMQP 1.0 logins work after $(ms_since "$t0") ms"
}

status() {
  local n up=0 first=""
  for ((n = 1; n <= NODES; n++)); do
    if node_alive "$n" && rmq_probe "$(amqp_port "$n")"; then
      echo "node $n: up: $(node_name "$n") on 127.0.0.1:$(amqp_port "$n"), pid $(tr -dc 0-9 <"$(pid_file "$n")")"
      up=$((up + 1))
      [[ -n $first ]] || first=$n
    elif [[ -e $(node_dir "$n")/killed ]]; then
      echo "node $n: killed: $(node_name "$n") (127.0.0.1:$(amqp_port "$n")); revive $n starts it again"
    else
      echo "node $n: down: $(node_name "$n") (127.0.0.1:$(amqp_port "$n"))"
    fi
  done
  [[ -n $first ]] && echo "running members (as node ${first} sees them): $(running_members "$first")"
  ((up == NODES))
}

declare_quorum() {
  local name=${1:-} n out
  [[ $name =~ ^[A-Za-z0-9._-]{1,200}$ ]] || { say "declare-quorum: a queue name of letters, digits, '.', '_' and '-' please (got '${name}')"; exit 2; }
  for ((n = 1; n <= NODES; n++)); do node_alive "$n" && break; done
  ((n <= NODES)) || { say "declare-quorum: no node is running"; exit 1; }
  out=$(ctl "$n" eval "case rabbit_amqqueue:declare(rabbit_misc:r(<<\"/\">>, queue, <<\"${name}\">>), true, false, [{<<\"x-queue-type\">>, longstr, <<\"quorum\">>}], none, <<\"guest\">>) of {R, Q} when R =:= new; R =:= existing -> {R, amqqueue:get_type(Q)}; Other -> Other end." 2>&1) || {
    say "declare-quorum ${name} failed on node $n: ${out}"
    exit 1
  }
  if [[ $out != *rabbit_quorum_queue* ]]; then
    say "declare-quorum ${name}: node $n answered ${out} (a queue of another type with that name?)"
    exit 1
  fi
  echo "${out%%,*}" | tr -d '{' # new or existing
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
  kill) kill_nodes "$@" ;;
  revive) revive_nodes "$@" ;;
  status) status ;;
  ctl)
    check_node_arg "${1:-}"
    n=$1
    shift
    ctl "$n" "$@"
    ;;
  declare-quorum) declare_quorum "$@" ;;
  *)
    echo "usage: $0 start [--owner PID] | stop [--owner PID] | kill N... | revive N... | status | ctl N <rabbitmqctl args> | declare-quorum NAME" >&2
    exit 2
    ;;
esac
