#!/usr/bin/env bash
# Two "hosts" on one machine for MPI tests: two network namespaces joined by a veth pair, each with its own host
# name (UTS namespace) and its own /etc/netns files (no DNS), then one mpirun across them (spec distributed.md §4.3).
# Needs root, ip(8) and unshare(1). Only addresses inside the two namespaces are used; nothing touches the root
# namespace's network.
#
#   two-hosts.sh check                          exit 0 if namespaces can be made here; else one line why, exit 3
#   two-hosts.sh run [MPIRUN_OPTION...] -- COMMAND [ARG...]
#                                               sets up, runs COMMAND as ranks 0 (host A) and 1 (host B) through
#                                               mpirun inside A, tears down (always), exits with mpirun's status
#   two-hosts.sh down ID                        removes what a run with G1J_NET_ID=ID left (after a hard kill)
#
# Environment: G1J_NET_ID (suffix of the names; default: this script's pid), G1J_NET_PREFIX (default 10.213.77;
# the /24 lives only inside the namespaces, so it cannot clash with the machine's own networks).
# Host names: g1j-a-ID (rank 0, runs mpirun) and g1j-b-ID (rank 1), addresses PREFIX.1 and PREFIX.2.
set -uo pipefail

id="${G1J_NET_ID:-$$}"
prefix="${G1J_NET_PREFIX:-10.213.77}"
a="g1j-a-$id"
b="g1j-b-$id"
tmp=""

down() {  # removes the namespaces of run $1, the processes still in them and their /etc/netns files
  local ns
  for ns in "g1j-a-$1" "g1j-b-$1"; do
    if ip netns list 2>/dev/null | grep -q "^$ns\b"; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
      ip netns del "$ns" 2>/dev/null
    fi
    rm -rf "/etc/netns/$ns"
  done
}

check() {
  local probe="g1j-probe-$id"
  for tool in ip unshare; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed"; return 3; }
  done
  [ "$(id -u)" = 0 ] || { echo "network namespaces need root"; return 3; }
  if ! err=$(ip netns add "$probe" 2>&1); then
    echo "cannot create a network namespace: $err"
    return 3
  fi
  local ok=0 out
  out=$(ip netns exec "$probe" unshare --uts /bin/sh -c 'hostname g1j-probe' 2>&1) || ok=3
  ip netns del "$probe" 2>/dev/null
  [ "$ok" = 0 ] || { echo "cannot create a UTS namespace: $out"; return 3; }
}

up() {
  set -e
  ip netns add "$a"
  ip netns add "$b"
  ip -n "$a" link add va type veth peer name vb netns "$b"
  ip -n "$a" addr add "$prefix.1/24" dev va
  ip -n "$b" addr add "$prefix.2/24" dev vb
  local ns
  for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
    mkdir -p "/etc/netns/$ns"
    printf '127.0.0.1 localhost\n%s %s\n%s %s\n' "$prefix.1" "$a" "$prefix.2" "$b" >"/etc/netns/$ns/hosts"
    printf '# no name server inside the test namespaces\n' >"/etc/netns/$ns/resolv.conf"
    printf 'passwd: files\ngroup: files\nhosts: files\n' >"/etc/netns/$ns/nsswitch.conf"
  done
  ip -n "$a" link set va up
  ip -n "$b" link set vb up
  set +e
}

run() {
  local options=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do options+=("$1"); shift; done
  [ "${1:-}" = "--" ] || { echo "two-hosts.sh run: missing -- before the command" >&2; exit 2; }
  shift
  [ $# -gt 0 ] || { echo "two-hosts.sh run: missing command" >&2; exit 2; }
  local reason
  reason=$(check) || { echo "two-hosts.sh: $reason" >&2; exit 3; }
  tmp=$(mktemp -d)
  trap 'down "$id"; rm -rf "$tmp"' EXIT
  down "$id"
  up || { echo "two-hosts.sh: setting up the namespaces failed" >&2; exit 3; }
  # mpirun's launch agent in place of ssh: "AGENT HOST orted-command..." runs the command inside HOST's namespaces
  cat >"$tmp/agent" <<'AGENT'
#!/bin/sh
host="$1"; shift
exec ip netns exec "$host" unshare --uts /bin/sh -c "hostname $host && $*"
AGENT
  chmod +x "$tmp/agent"
  # each namespace needs its own host name: two Open MPI daemons reporting the same one hang the launch
  ip netns exec "$a" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$a" \
    mpirun --allow-run-as-root --host "$a:1,$b:1" -np 2 --mca plm_rsh_agent "$tmp/agent" \
      --mca btl tcp,self --mca btl_tcp_if_include "$prefix.0/24" --mca oob_tcp_if_include "$prefix.0/24" \
      --mca mpi_yield_when_idle 1 -x PATH "${options[@]}" "$@" <&0 &
  # mpirun runs in the background so that a signal reaches it at once (and the EXIT trap cleans up afterwards)
  local child=$! status
  trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
  while true; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  exit "$status"
}

case "${1:-}" in
  check) check ;;
  run) shift; run "$@" ;;
  down) [ -n "${2:-}" ] || { echo "two-hosts.sh down: missing ID" >&2; exit 2; }; down "$2" ;;
  *) echo "usage: two-hosts.sh check | run [MPIRUN_OPTION...] -- COMMAND [ARG...] | down ID" >&2; exit 2 ;;
esac
