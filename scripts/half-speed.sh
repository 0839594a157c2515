#!/usr/bin/env bash
# Runs a command with the machine's CPU cut to a fraction (half by default), to reproduce a slow day:
#
#   bash scripts/half-speed.sh pnpm exec vitest run tests/chaos
#   bash scripts/half-speed.sh --cpus 0.5 bash .ci/run      # a quarter of a two-core machine
#
# The command and everything it starts (services, PostgreSQL, nats-server) run in a cgroup of their own
# whose CPU quota is `--cpus` cores (default: half the cores the machine has). cgroup v1 (`cpu`
# controller: cfs_quota_us / cfs_period_us) and v2 (`cpu.max`) both work; they need root or a delegated
# cgroup. Without either, it falls back to CPU hogs: one busy loop per core at the same priority, which
# the kernel's fair scheduler lets take about half of every core (coarser: the command's share then
# depends on how many threads it runs).
#
# It cleans up after itself whatever happens (the command ends, fails, or this script gets INT/TERM):
# processes the command left behind in the cgroup (still there 15 s after it ended: the test kit's
# watchdogs need a moment) are reported and killed, the cgroup is removed, the hogs are stopped (and stop by themselves if this script is killed with -9). The exit code is the
# command's.
set -euo pipefail

usage() {
  echo "usage: bash scripts/half-speed.sh [--cpus N] [--hog] command [args…]" >&2
  echo "  --cpus N  CPU quota in cores (decimal; default: half of nproc)" >&2
  echo "  --hog     use CPU hogs instead of a cgroup quota" >&2
  exit 2
}

cores="$(nproc)"
cpus=""
mode=cgroup
while [ $# -gt 0 ]; do
  case "$1" in
    --cpus) [ $# -ge 2 ] || usage; cpus="$2"; shift 2 ;;
    --cpus=*) cpus="${1#--cpus=}"; shift ;;
    --hog) mode=hog; shift ;;
    --help | -h) usage ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
[ -n "$cpus" ] || cpus="$(awk -v n="$cores" 'BEGIN { printf "%g", n / 2 }')"
if ! awk -v c="$cpus" 'BEGIN { exit !(c + 0 > 0.01) }'; then
  echo "half-speed: --cpus must be a positive number of cores, not '$cpus'" >&2
  exit 2
fi

period_us=100000
quota_us="$(awk -v c="$cpus" -v p="$period_us" 'BEGIN { printf "%d", c * p }')"
name="mercato-half-speed-$$"
cgroup=""
cgroup_kind=""
hogs=()
child=""

# Where to make the cgroup: v1's cpu hierarchy, else the v2 hierarchy (the cgroup this shell is in,
# whose parent must delegate the cpu controller).
find_cgroup_parent() {
  local v1 v2
  for v1 in /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct; do
    if [ -w "$v1" ] && [ -f "$v1/cpu.cfs_quota_us" ]; then
      local own
      own="$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3; exit }' /proc/self/cgroup)"
      own="${own%/}"
      if [ -n "$own" ] && [ -w "$v1$own" ]; then echo "v1 $v1$own"; else echo "v1 $v1"; fi
      return
    fi
  done
  for v2 in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    if [ -f "$v2/cgroup.controllers" ]; then
      local own
      own="$(awk -F: '$1 == "0" { print $3; exit }' /proc/self/cgroup)"
      # A v2 cgroup with processes in it cannot have children with controllers: use its parent.
      local base="$v2${own%/*}"
      if [ -w "$base" ] && grep -qw cpu "$base/cgroup.subtree_control" 2>/dev/null; then
        echo "v2 $base"
        return
      fi
    fi
  done
}

procs_in_cgroup() {
  [ -n "$cgroup" ] && [ -f "$cgroup/cgroup.procs" ] && cat "$cgroup/cgroup.procs" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$child" 2>/dev/null || true
  fi
  if [ -n "$cgroup" ]; then
    local left
    # Watchdogs (packages/testing's cleanup) outlive the command by a moment to do their work: let them.
    for _ in $(seq 1 75); do [ -z "$(procs_in_cgroup)" ] && break; sleep 0.2; done
    left="$(procs_in_cgroup | xargs)"
    if [ -n "$left" ]; then
      echo "half-speed: the command left processes behind; stopping them:" >&2
      ps -o pid=,args= -p "${left// /,}" 2>/dev/null | sed 's/^/  /' >&2 || true
      # shellcheck disable=SC2086
      kill -TERM $left 2>/dev/null || true
      for _ in $(seq 1 25); do [ -z "$(procs_in_cgroup)" ] && break; sleep 0.2; done
      # shellcheck disable=SC2046
      kill -KILL $(procs_in_cgroup) 2>/dev/null || true
      for _ in $(seq 1 25); do [ -z "$(procs_in_cgroup)" ] && break; sleep 0.2; done
    fi
    local throttled
    throttled="$(awk '$1 == "throttled_time" { printf "%.0f s", $2 / 1e9 } $1 == "throttled_usec" { printf "%.0f s", $2 / 1e6 }' "$cgroup/cpu.stat" 2>/dev/null || true)"
    [ -n "$throttled" ] && echo "half-speed: the command was held back (throttled) for $throttled in all" >&2
    rmdir "$cgroup" 2>/dev/null || echo "half-speed: could not remove $cgroup" >&2
  fi
  if [ ${#hogs[@]} -gt 0 ]; then
    kill -KILL "${hogs[@]}" 2>/dev/null || true
    wait "${hogs[@]}" 2>/dev/null || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ "$mode" = cgroup ]; then
  read -r cgroup_kind parent <<<"$(find_cgroup_parent || true)" || true
  if [ -z "${cgroup_kind:-}" ]; then
    echo "half-speed: no writable cgroup with the cpu controller (needs root or a delegated cgroup); using CPU hogs" >&2
    mode=hog
  else
    cgroup="$parent/$name"
    mkdir "$cgroup"
    if [ "$cgroup_kind" = v1 ]; then
      echo "$period_us" >"$cgroup/cpu.cfs_period_us"
      echo "$quota_us" >"$cgroup/cpu.cfs_quota_us"
    else
      echo "$quota_us $period_us" >"$cgroup/cpu.max"
    fi
    echo "half-speed: $cpus of $cores cores (cgroup $cgroup_kind $cgroup, quota ${quota_us} µs per ${period_us} µs)" >&2
  fi
fi

if [ "$mode" = hog ]; then
  # One busy loop per core for as long as this script lives (checked every few thousand spins, so a
  # kill -9 of this script leaves nothing running for long).
  for _ in $(seq 1 "$cores"); do
    bash -c 'while kill -0 "$1" 2>/dev/null; do for ((i = 0; i < 20000; i++)); do :; done; done' hog "$$" &
    hogs+=("$!")
  done
  echo "half-speed: $cores CPU hogs at normal priority (about half of each core left; --cpus is ignored)" >&2
fi

started=$SECONDS
if [ -n "$cgroup" ]; then
  # The child moves itself into the cgroup before exec, so everything it starts is held there too.
  # (An explicit `<&0`: a background job would otherwise read from /dev/null.)
  bash -c 'echo "$BASHPID" >"$1/cgroup.procs" && shift && exec "$@"' half-speed "$cgroup" "$@" <&0 &
else
  "$@" <&0 &
fi
child=$!
set +e
wait "$child"
status=$?
set -e
child=""
echo "half-speed: '$*' exited with $status after $((SECONDS - started)) s" >&2
exit "$status"
