#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the tests: munge, slurmctld and slurmd, all as root.
#   tests/services/slurm.sh start    install (Debian slurm-wlm, munge) if missing, configure, start, wait
#   tests/services/slurm.sh stop     stop what `start` started
#   tests/services/slurm.sh status   exit 0 when the cluster answers and its node is up
# No accounting database: job status must come from squeue (profiles/slurm sets that), and MinJobAge
# keeps finished jobs visible to squeue (and scontrol) long enough for Snakemake and the tests.
# The config lives in $REPRO_SLURM_DIR, not /etc/slurm: clients find it through SLURM_CONF, which the
# test suite exports (tests/conftest.py).
set -euo pipefail
STATE=${REPRO_SLURM_DIR:-/tmp/repro-slurm}
export SLURM_CONF=$STATE/slurm.conf
CONF=$SLURM_CONF
[ "$(id -u)" = 0 ] || { echo "slurm.sh: must run as root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
    && command -v pgrep >/dev/null; then
    return
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge procps >/dev/null
}

write_config() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))  # leave 2 GB for the OS
  if [ "$mem" -lt 8000 ]; then  # training and evaluation jobs ask for 8000 MB
    echo "slurm.sh: this machine offers ${mem} MB to jobs; the workflow's training jobs need 8000" >&2
    exit 1
  fi
  mkdir -p "$STATE"/ctld "$STATE"/d "$STATE"/log
  cat > "$CONF" <<CONF
# Written by tests/services/slurm.sh for a one-node test cluster.
ClusterName=repro
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

up() { sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

start() {
  if up; then echo "slurm: already running"; return; fi
  install_packages
  write_config
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  if ! pgrep -x munged >/dev/null; then
    [ -s /etc/munge/munge.key ] || mungekey --create --force
    munged --force
    touch "$STATE/started-munge"
  fi
  if ! pgrep -x slurmctld >/dev/null && ! pgrep -x slurmd >/dev/null; then
    slurmctld -f "$CONF"
    slurmd -f "$CONF"
    touch "$STATE/started-slurm"
  fi
  for _ in $(seq 1 60); do
    if up; then echo "slurm: up ($(sinfo -h -o '%n %c CPUs %m MB %T'))"; return; fi
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "slurm: did not come up; see $STATE/log" >&2
  tail -n 20 "$STATE"/log/*.log >&2 || true
  exit 1
}

stop() {
  if [ -f "$STATE/started-slurm" ]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    rm -f "$STATE/started-slurm"
  fi
  if [ -f "$STATE/started-munge" ]; then
    pkill -x munged || true
    rm -f "$STATE/started-munge"
  fi
  echo "slurm: stopped"
}

case "${1:-status}" in
  start) start ;;
  stop) stop ;;
  status) up ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
