#!/usr/bin/env bash
# A single-node Slurm on this machine (slurmctld + slurmd on localhost, munge for auth), for
# qstar's Slurm tests and for trying `qstar launch slurm` without a cluster. Needs root and
# Debian's slurm-wlm (installed here when missing). Idempotent: an already-answering cluster is kept.
#   tests/tools/local_slurm.sh          # start (or check) it
#   tests/tools/local_slurm.sh stop     # stop the daemons this script started (none it did not start)
# tests/cli/test_slurm_e2e.py runs it (as root) when no Slurm answers.
set -euo pipefail

STARTED=/run/qstar-local-slurm.started  # the daemons this script started, one name a line
if [ "${1:-}" = stop ]; then
  if [ -f "$STARTED" ]; then
    while read -r daemon; do pkill -x "$daemon" || true; done < "$STARTED"
    rm -f "$STARTED"
  fi
  exit 0
fi
if ! command -v slurmctld >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
fi
if sinfo -h >/dev/null 2>&1 && [ "$(sinfo -h -o %T | head -1)" = idle ]; then
  exit 0
fi
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=qstar-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
MaxArraySize=1001
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
chown -R munge:munge /run/munge 2>/dev/null || true
start() {  # start a daemon unless it runs, and note that this script started it
  pgrep -x "$1" >/dev/null && return 0
  shift_name=$1; shift
  "$@" && echo "$shift_name" >> "$STARTED"
}
start munged bash -c 'runuser -u munge -- munged 2>/dev/null || munged --force'
start slurmctld slurmctld
start slurmd slurmd
for _ in $(seq 1 30); do
  state=$(sinfo -h -o %T 2>/dev/null | head -1 || true)
  [ "$state" = idle ] && exit 0
  [ "$state" = down ] || [ "$state" = "down*" ] && scontrol update nodename="$host" state=resume 2>/dev/null || true
  sleep 1
done
echo "local Slurm did not come up: see /var/log/slurm/" >&2
exit 1
