# shellcheck shell=bash
# Shared by scripts/rabbitmq.sh and scripts/rabbitmq-cluster.sh (sourced, not run): RabbitMQ test
# nodes' processes, plugins, login check and epmd. The sourcing script defines say() and sets
# `set -euo pipefail`.
#
#   QUARK_RABBITMQ_HOME  RabbitMQ's bin directory (default /usr/lib/rabbitmq/bin)

RMQ_BIN=${QUARK_RABBITMQ_HOME:-/usr/lib/rabbitmq/bin}
RMQ_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

rmq_require_installed() {
  if [[ ! -x $RMQ_BIN/rabbitmq-server || ! -x $RMQ_BIN/rabbitmqctl ]]; then
    say "RabbitMQ is not installed (no $RMQ_BIN/rabbitmq-server). On Debian: apt-get install rabbitmq-server"
    exit 3
  fi
}

# True if the process exists and is not a zombie. A killed daemon stays a zombie until init reaps
# it (about a second on these machines), and `kill -0` succeeds on a zombie.
rmq_proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# Prints the pid in a node's pid file if that process is alive.
rmq_pid_of() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(tr -dc 0-9 <"$1")
  [[ -n $pid ]] && rmq_proc_alive "$pid" && echo "$pid"
}

# True if process $1 is the Erlang VM of the node whose pid file is $2: a beam.smp started with
# that RABBITMQ_PID_FILE (which holds the node's own directory, so never another node's VM or a
# system broker's).
rmq_is_node_vm() {
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [[ ${exe##*/} == beam.smp ]] || return 1
  tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF "RABBITMQ_PID_FILE=$2"
}

# The process ids of $1's descendants (erl_child_setup, inet_gethost, the disk monitor's sh).
rmq_descendants() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null || true); do
    echo "$child"
    rmq_descendants "$child"
  done
}

# SIGKILLs the Erlang VM of the node with pid file $1 (and, should they outlive it, the helper
# processes it started), and waits until they are gone (dead: zombies count). Fails if the node is
# not running.
rmq_kill_vm() {
  local pidfile=$1 pid helpers p i
  pid=$(rmq_pid_of "$pidfile") || { say "the node is not running (no live process in ${pidfile})"; return 1; }
  rmq_is_node_vm "$pid" "$pidfile" || { say "pid ${pid} in ${pidfile} is not this node's Erlang VM: not killing it"; return 1; }
  helpers=$(rmq_descendants "$pid")
  kill -KILL "$pid"
  for ((i = 0; i < 500; i++)); do rmq_proc_alive "$pid" || break; sleep 0.01; done
  if rmq_proc_alive "$pid"; then say "pid ${pid} still runs 5 s after SIGKILL"; return 1; fi
  # The helpers end by themselves when the VM's end of their pipes closes.
  for p in $helpers; do
    for ((i = 0; i < 200; i++)); do rmq_proc_alive "$p" || break; sleep 0.01; done
    rmq_proc_alive "$p" && kill -KILL "$p" 2>/dev/null
  done
  return 0
}

# Waits (at most $2 seconds) for an AMQP 1.0 login as guest on 127.0.0.1:$1; gives up early when
# the process in pid file $3 (if given) dies. Exit 0 logged in, 1 no login in time, 2 node died.
rmq_probe() {
  node "$RMQ_LIB_DIR/rabbitmq-probe.mjs" "$@"
}

# Fills directory $1 with links to the RabbitMQ applications a node with the AMQP 1.0 plugin needs
# (the dependency closure of rabbit and rabbitmq_amqp1_0, and of the further plugins named after
# $1, e.g. rabbitmq_auth_mechanism_ssl), for RABBITMQ_PLUGINS_DIR. A node boots about 2 s faster
# than with all 70 bundled plugins: it reads every plugin's config schema at boot.
rmq_make_plugins_dir() {
  local dir=$1 src app dirs appfile deps d
  shift
  src=$(cd "$RMQ_BIN/.." && pwd)
  src=$(echo "$src"/lib/rabbitmq_server-*/plugins)
  [[ -d $src ]] || { say "no plugins directory under $RMQ_BIN/../lib"; return 1; }
  rm -rf "$dir"
  mkdir -p "$dir"
  local -A seen=()
  local queue=(rabbitmq_prelaunch rabbit rabbitmq_amqp1_0 "$@")
  while ((${#queue[@]})); do
    app=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n ${seen[$app]:-} ]] && continue
    seen[$app]=1
    dirs=("$src/$app"-[0-9]*)
    [[ -d ${dirs[-1]} ]] || continue # an OTP application, not a plugin
    ln -s "${dirs[-1]}" "$dir/"
    appfile=${dirs[-1]}/ebin/$app.app
    deps=$(tr '\n' ' ' <"$appfile" | grep -o '{ *\(included_\)\?applications *, *\[[^]]*\]' | sed 's/.*\[//; s/\]//; s/[ ,]\+/ /g' || true)
    for d in $deps; do queue+=("$d"); done
  done
  for app in rabbitmq_amqp1_0 "$@"; do
    compgen -G "$dir/$app-*" >/dev/null || { say "RabbitMQ has no $app plugin in ${src}"; return 1; }
  done
}

# epmd: the first node a script starts launches one (Erlang does) if none runs. The marker file,
# shared by both scripts, says that one of them did; whichever script stops the last node then
# ends it. `epmd -kill` refuses while any node (of anyone) is still registered. (ERL_EPMD_PORT, if
# set, moves the nodes and the CLI tools to another epmd: one marker per epmd port.)
RMQ_EPMD_MARKER=${TMPDIR:-/tmp}/quark-rabbitmq-started-epmd-${ERL_EPMD_PORT:-4369}

rmq_epmd_before_start() {
  epmd -names >/dev/null 2>&1 || touch "$RMQ_EPMD_MARKER"
}

rmq_epmd_release() {
  [[ -e $RMQ_EPMD_MARKER ]] || return 0
  if epmd -kill >/dev/null 2>&1 || ! epmd -names >/dev/null 2>&1; then
    rm -f "$RMQ_EPMD_MARKER"
  fi
}

# Owner bookkeeping of a script's directory ($DIR; `say` is the script's own). Test processes
# register as owners (a file named after their pid under $DIR/owners); the node or cluster is
# stopped only when no live owner is left.

# Serialises start, stop, kill and revive across processes (concurrent test runs on one machine).
lock() {
  mkdir -p "$DIR/owners"
  exec 9>"$DIR/lock"
  flock -w 300 9 || { say "could not lock ${DIR}/lock within 300 s"; exit 1; }
}

# Drops owners whose process is gone; true if any live owner is left (other than $1, if given).
live_owners() {
  local f pid any=1
  for f in "$DIR"/owners/*; do
    [[ -e $f ]] || continue
    pid=${f##*/}
    if [[ ! -d /proc/$pid ]]; then rm -f "$f"; elif [[ $pid != "${1:-}" ]]; then any=0; fi
  done
  return $any
}

# The registered owners (other than $1, if given), on one line.
owners_list() {
  local f out=()
  for f in "$DIR"/owners/*; do [[ -e $f && ${f##*/} != "${1:-}" ]] && out+=("${f##*/}"); done
  echo "${out[*]}"
}

# Unregisters owner $1 (none: a stop by hand) and says whether to stop now: false while the node or
# cluster was started by hand or another live process still uses it. $2 names it in the messages.
release_owner() {
  local owner=$1 what=$2
  [[ -n $owner ]] || return 0
  rm -f "$DIR/owners/$owner"
  if [[ -e $DIR/manual ]]; then
    say "leaving ${what} running: it was started by hand (its script's stop command stops it)"
    return 1
  fi
  if live_owners; then
    say "leaving ${what} running: still used by process(es) $(owners_list)"
    return 1
  fi
  return 0
}
