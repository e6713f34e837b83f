#!/usr/bin/env bash
# gpuslice-node-setup: prepare a GPU node and join it to EKS with /etc/eks/bootstrap.sh (Ubuntu EKS, AL2).
# Rendered by gpuslice; the per-pool settings are in /etc/gpuslice/node.env.
#   1. data disk (gpuslice-setup-disks; a failure stops here: the node never joins with a broken disk)
#   2. DNS: kubelet reads the real resolver list, not the 127.0.0.53 stub; optionally turn the stub listener off
#      when a DNS server runs with hostNetwork on this node
#   3. SSM agent enabled (retried, then only a warning: SSM never keeps the node out of the cluster)
#   4. join with the pool's labels (incl. nvidia.com/device-plugin.config) and taints
# Every step that uses the network is retried with exponential backoff.
set -euo pipefail
shopt -s inherit_errexit

ROOT="${GPUSLICE_ROOT:-}"
ENV_FILE="${GPUSLICE_NODE_ENV:-$ROOT/etc/gpuslice/node.env}"

log() { printf 'gpuslice-node: %s\n' "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[ -r "$ENV_FILE" ] || die "configuration $ENV_FILE is missing"
GPUSLICE_BOOTSTRAP_EXTRA_ARGS=()
# shellcheck source=/dev/null
. "$ENV_FILE"

CLUSTER_NAME="${GPUSLICE_CLUSTER_NAME:?GPUSLICE_CLUSTER_NAME is not set}"
KUBELET_EXTRA_ARGS="${GPUSLICE_KUBELET_EXTRA_ARGS:-}"
DISKS="${GPUSLICE_DISKS:-0}"
HOST_NETWORK_DNS="${GPUSLICE_HOST_NETWORK_DNS:-0}"
SSM="${GPUSLICE_SSM:-off}"
JOIN="${GPUSLICE_JOIN:-1}"
RETRIES="${GPUSLICE_RETRIES:-6}"
RETRY_DELAY="${GPUSLICE_RETRY_DELAY:-2}"
SSM_RETRIES="${GPUSLICE_SSM_RETRIES:-4}"
SETUP_DISKS="${GPUSLICE_SETUP_DISKS:-$ROOT/usr/local/sbin/gpuslice-setup-disks}"
BOOTSTRAP_SH="${GPUSLICE_BOOTSTRAP_SH:-$ROOT/etc/eks/bootstrap.sh}"

# retry CMD...: run CMD up to RETRIES times, doubling the pause after each failure (2, 4, 8, ... seconds).
retry() {
  local attempt=1 delay=$RETRY_DELAY rc
  while :; do
    if "$@"; then return 0; else rc=$?; fi
    if [ "$attempt" -ge "$RETRIES" ]; then
      log "giving up after $attempt attempts (exit $rc): $*"
      return "$rc"
    fi
    log "attempt $attempt failed (exit $rc), retrying in ${delay}s: $*"
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
}

setup_disks() {
  [ "$DISKS" = 1 ] || return 0
  # Load gpuslice-disks.service and the guard drop-ins cloud-init just wrote, so that a failure below also
  # keeps containerd, kubelet and the join unit (AL2023: nodeadm-run, which starts after cloud-final) down.
  systemctl daemon-reload
  "$SETUP_DISKS" || die "the data disk is not ready (see the gpuslice-disks messages above); not joining the cluster"
  # From now on the unit runs the same script at every boot, before containerd and kubelet.
  systemctl enable gpuslice-disks.service
}

setup_dns() {
  [ "$HOST_NETWORK_DNS" = 1 ] || return 0
  # The drop-in with DNSStubListener=no was written next to this script; with the stub gone, /etc/resolv.conf
  # must list the real upstream servers instead of 127.0.0.53.
  systemctl restart systemd-resolved.service
  ln -sfn /run/systemd/resolve/resolv.conf "$ROOT/etc/resolv.conf"
  log "systemd-resolved stub listener disabled; /etc/resolv.conf -> /run/systemd/resolve/resolv.conf"
}

# SSM is for reaching the node, never a reason to keep it out of the cluster: every failure here is retried a
# few times, then only warned about, and the join goes on. On a first boot snapd is often still seeding or
# auto-refreshing snaps, and `snap install/start` fail with "change in progress" until it is done.
setup_ssm() {
  case "$SSM" in
    snap)
      RETRIES=$SSM_RETRIES retry snap wait system seed.loaded || log "WARNING: snapd is not seeded yet"
      if ! snap list amazon-ssm-agent >/dev/null 2>&1; then
        if ! RETRIES=$SSM_RETRIES retry snap install amazon-ssm-agent --classic; then
          log "WARNING: could not install the amazon-ssm-agent snap; joining without SSM (install it later)"
          return 0
        fi
      fi
      if RETRIES=$SSM_RETRIES retry snap start --enable amazon-ssm-agent; then
        log "SSM agent (snap) enabled"
      else
        log "WARNING: could not start the amazon-ssm-agent snap; joining without SSM"
      fi
      ;;
    preinstalled)
      RETRIES=$SSM_RETRIES retry systemctl enable --now amazon-ssm-agent.service \
        || log "WARNING: could not enable amazon-ssm-agent.service; joining without SSM"
      ;;
    off) ;;
    *) die "unknown GPUSLICE_SSM $SSM" ;;
  esac
}

join() {
  [ "$JOIN" = 1 ] || return 0
  [ -x "$BOOTSTRAP_SH" ] || die "$BOOTSTRAP_SH is missing: is this an EKS-optimized image?"
  log "joining cluster $CLUSTER_NAME"
  retry "$BOOTSTRAP_SH" "$CLUSTER_NAME" --kubelet-extra-args "$KUBELET_EXTRA_ARGS" "${GPUSLICE_BOOTSTRAP_EXTRA_ARGS[@]}" \
    || die "bootstrap.sh failed"
  log "joined"
}

setup_disks
setup_dns
setup_ssm
join
