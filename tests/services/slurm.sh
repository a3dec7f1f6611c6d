#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the tests: munge, slurmctld and slurmd, all as root.
#   tests/services/slurm.sh start    install (Debian slurm-wlm, munge) if missing, configure, start, wait
#   tests/services/slurm.sh stop     stop what `start` started and remove every file it wrote
#   tests/services/slurm.sh status   exit 0 when the cluster answers and its node is up
#   tests/services/slurm.sh check    run a job step the way Snakemake's jobstep plugin does; one line if not
# No accounting database: job status must come from squeue (profiles/slurm sets that), and MinJobAge
# keeps finished jobs visible to squeue (and scontrol) long enough for Snakemake and the tests.
# The config sits where every Slurm client looks without help, /etc/slurm/slurm.conf, as on a real site:
# inside a job, the jobstep plugin strips SLURM_* variables (SLURM_CONF among them) from the nested
# srun's environment, so a config found only through SLURM_CONF is invisible to job steps.
# Spool, state and logs live in $REPRO_SLURM_DIR; `stop` removes that folder and the config again.
set -euo pipefail
STATE=${REPRO_SLURM_DIR:-/tmp/repro-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# Written by tests/services/slurm.sh for a one-node test cluster."
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
  if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
    echo "slurm.sh: $CONF exists and was not written by this script; refusing to replace a real config" >&2
    exit 1
  fi
  mkdir -p "$STATE"/ctld "$STATE"/d "$STATE"/log
  [ -d /etc/slurm ] || { mkdir -p /etc/slurm; touch "$STATE/created-etc-slurm"; }
  cat > "$CONF" <<CONF
$MARK
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
    if [ ! -s /etc/munge/munge.key ]; then mungekey --create --force; touch "$STATE/created-munge-key"; fi
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

# A job step started as snakemake-executor-plugin-slurm-jobstep starts one: a batch job runs a nested
# `srun -n1` whose environment keeps only the allocation's identity among the SLURM_* variables.
check() {
  local out rc=0
  out=$(mktemp)
  sbatch --wait --quiet -o "$out" -e "$out" --wrap '
    for v in $(env | sed -n "s/^\(SLURM_[A-Z_]*\)=.*/\1/p"); do
      case $v in SLURM_JOB_ID|SLURM_JOBID|SLURM_CLUSTER_NAME|SLURM_SUBMIT_DIR|SLURM_SUBMIT_HOST) ;;
        *) unset "$v" ;; esac
    done
    srun -n1 true' >/dev/null 2>>"$out" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "slurm.sh: a job step cannot reach the controller from a scrubbed environment (is slurm.conf" \
      "in /etc/slurm, where clients look?): $(grep -m1 -iE 'error|fatal' "$out" || tail -n1 "$out")" >&2
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
  echo "slurm: a scrubbed job step reaches the controller"
}

stop() {
  if [ -f "$STATE/started-slurm" ]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
  fi
  if [ -f "$STATE/started-munge" ]; then
    pkill -x munged || true
  fi
  if [ -f "$CONF" ] && grep -qxF "$MARK" "$CONF"; then rm -f "$CONF"; fi
  if [ -f "$STATE/created-etc-slurm" ]; then rmdir /etc/slurm 2>/dev/null || true; fi
  if [ -f "$STATE/created-munge-key" ]; then rm -f /etc/munge/munge.key; fi
  for _ in $(seq 1 20); do { pgrep -x slurmd || pgrep -x slurmctld; } >/dev/null || break; sleep 0.5; done
  rm -rf "$STATE"
  echo "slurm: stopped"
}

case "${1:-status}" in
  start) start ;;
  stop) stop ;;
  status) up ;;
  check) check ;;
  *) echo "usage: $0 start|stop|status|check" >&2; exit 2 ;;
esac
