#!/usr/bin/env bash
# gpuslice-setup-disks: put containerd's (and optionally kubelet's) state on the node's data disk before they
# write there. Rendered by gpuslice; the per-pool settings are in /etc/gpuslice/disks.env.
#
# - EBS data volume: found by the device name EBS records in the NVMe controller's vendor data (the name asked
#   for in the launch template, e.g. /dev/xvdb), because Nitro renames it to /dev/nvmeXn1 in discovery order.
#   Falls back to the volume size only when exactly one unnamed disk has that size.
# - Instance store: every "Amazon EC2 NVMe Instance Storage" disk, striped with mdadm (RAID0) when there are
#   several.
# A filesystem is created only when the device has none. The device is mounted at GPUSLICE_DATA_ROOT and each
# target directory is bind-mounted from it; fstab entries use the filesystem UUID and `nofail`. If containerd or
# kubelet already run (user-data runs late in boot), they are stopped, their data moved, and restarted.
# Safe to run again: on reboot everything is already mounted and nothing changes. systemd may mount the fstab
# entries while this runs (they are `nofail`, so local-fs.target does not wait for them): the unit is ordered
# after their mount units, and a mount that fails because the same filesystem is already there counts as done.
# Any failure exits non-zero and leaves /run/gpuslice/disk-failed, which the units that would write to the
# disk (and the join unit) check before starting: the node does not join with a broken disk.
set -euo pipefail
shopt -s inherit_errexit

ROOT="${GPUSLICE_ROOT:-}"          # a fake root for tests; empty on a real node
ENV_FILE="${GPUSLICE_DISKS_ENV:-$ROOT/etc/gpuslice/disks.env}"
FAILED_FLAG="$ROOT/run/gpuslice/disk-failed"

log() { printf 'gpuslice-disks: %s\n' "$*" >&2; }

die() {
  log "FATAL: $*"
  log "FATAL: this node will not start containerd/kubelet or join the cluster until the data disk is fixed"
  mkdir -p "${FAILED_FLAG%/*}" && printf '%s\n' "$*" >"$FAILED_FLAG" || true
  exit 1
}

[ -r "$ENV_FILE" ] || die "configuration $ENV_FILE is missing"
# shellcheck source=/dev/null
. "$ENV_FILE"

MODE="${GPUSLICE_DISK_MODE:?GPUSLICE_DISK_MODE is not set (ebs or instance-store)}"
DEVICE_NAME="${GPUSLICE_DEVICE_NAME:-/dev/xvdb}"
SIZE_GIB="${GPUSLICE_SIZE_GIB:-0}"
FS_TYPE="${GPUSLICE_FS_TYPE:-ext4}"
FS_LABEL="${GPUSLICE_FS_LABEL:-gpuslice}"
DATA_ROOT="${GPUSLICE_DATA_ROOT:-/mnt/gpuslice-data}"
TARGETS="${GPUSLICE_TARGETS:-/var/lib/containerd}"
SERVICES="${GPUSLICE_SERVICES:-containerd.service}"
WAIT_SECONDS="${GPUSLICE_WAIT_SECONDS:-120}"
RAID_DEVICE="${GPUSLICE_RAID_DEVICE:-/dev/md/gpuslice}"

EBS_MODEL="Amazon Elastic Block Store"
INSTANCE_STORE_MODEL="Amazon EC2 NVMe Instance Storage"

rm -f "$FAILED_FLAG"

# The value of KEY in one line of `lsblk -P` output.
kv() {
  local re="$1=\"([^\"]*)\""
  if [[ $2 =~ $re ]]; then
    local v="${BASH_REMATCH[1]}"
    printf '%s' "${v%"${v##*[![:space:]]}"}"
  fi
}

# /dev/sdb, sdb and xvdb all name the same mapping: compare as xvdX.
normalize() {
  local n="${1#/dev/}"
  case "$n" in sd*) n="xvd${n#sd}" ;; esac
  printf '%s' "$n"
}

disks() { lsblk -dbnpP -o NAME,SIZE,TYPE,MODEL; }

root_disk() {
  local src parent
  src=$(findmnt -nvo SOURCE / 2>/dev/null || true)
  [ -n "$src" ] || return 0
  parent=$(lsblk -ndpo PKNAME "$src" 2>/dev/null || true)
  printf '%s' "${parent:-$src}"
}

# The block-device-mapping name EBS recorded for an NVMe device (what ebsnvme-id and `nvme id-ctrl` read from
# the first 32 bytes of the controller's vendor-specific area, offset 3072), or the kernel name on Xen.
mapping_name() {
  local dev=$1 name=""
  case "${dev##*/}" in
    nvme*)
      if command -v ebsnvme-id >/dev/null 2>&1; then
        name=$(ebsnvme-id -b "$dev" 2>/dev/null || true)
      fi
      if [ -z "$name" ] && command -v nvme >/dev/null 2>&1; then
        name=$(nvme id-ctrl --raw-binary "$dev" 2>/dev/null | tail -c +3073 | head -c 32 | tr -d '\000[:space:]' || true)
      fi
      ;;
    *) name=${dev##*/} ;;
  esac
  printf '%s' "$name"
}

# Prints the EBS data device, or nothing when it is not there (yet). Dies when the answer is ambiguous.
find_ebs_device() {
  local want root line dev size type model name bytes
  local -a named=() sized=()
  want=$(normalize "$DEVICE_NAME")
  root=$(root_disk)
  bytes=$((SIZE_GIB * 1024 * 1024 * 1024))
  while IFS= read -r line; do
    dev=$(kv NAME "$line")
    type=$(kv TYPE "$line")
    size=$(kv SIZE "$line")
    model=$(kv MODEL "$line")
    [ "$type" = disk ] || continue
    [ "$dev" != "$root" ] || continue
    [ "$model" != "$INSTANCE_STORE_MODEL" ] || continue
    name=$(mapping_name "$dev")
    if [ -n "$name" ]; then
      if [ "$(normalize "$name")" = "$want" ]; then named+=("$dev"); fi
    elif [ "$size" = "$bytes" ] && { [ -z "$model" ] || [ "$model" = "$EBS_MODEL" ]; }; then
      sized+=("$dev")
    fi
  done < <(disks)
  if [ "${#named[@]}" -eq 1 ]; then
    log "data volume $DEVICE_NAME is ${named[0]} (matched by the EBS device name)"
    printf '%s' "${named[0]}"
  elif [ "${#named[@]}" -gt 1 ]; then
    die "several disks claim the device name $DEVICE_NAME: ${named[*]}"
  elif [ "${#sized[@]}" -eq 1 ]; then
    log "WARNING: no disk reports the device name $DEVICE_NAME; using ${sized[0]}, the only unnamed ${SIZE_GIB} GiB disk"
    printf '%s' "${sized[0]}"
  elif [ "${#sized[@]}" -gt 1 ]; then
    die "no disk reports the device name $DEVICE_NAME and ${#sized[@]} disks have ${SIZE_GIB} GiB (${sized[*]}); refusing to guess"
  fi
}

instance_store_disks() {
  local line
  while IFS= read -r line; do
    [ "$(kv TYPE "$line")" = disk ] || continue
    [ "$(kv MODEL "$line")" = "$INSTANCE_STORE_MODEL" ] || continue
    kv NAME "$line"
    printf '\n'
  done < <(disks)
}

# The running md array that holds disk $1, from /proc/mdstat ("md127 : active raid0 nvme2n1[1] nvme1n1[0]"):
# after a reboot the kernel may have auto-assembled our array under another name than $RAID_DEVICE.
running_array_of() {
  local member=${1#/dev/} line
  [ -r "$ROOT/proc/mdstat" ] || return 0
  while IFS= read -r line; do
    case "$line" in
      md*" : active "*" ${member}["*) printf '/dev/%s' "${line%% *}"; return 0 ;;
    esac
  done < "$ROOT/proc/mdstat"
}

# Prints the device to use for the instance store: the only disk, or the RAID0 array over all of them.
instance_store_device() {
  local -a members=()
  local d
  while IFS= read -r d; do [ -n "$d" ] && members+=("$d"); done < <(instance_store_disks)
  if [ "${#members[@]}" -eq 0 ]; then
    return 0
  fi
  if [ "${#members[@]}" -eq 1 ]; then
    log "one instance-store disk: ${members[0]}"
    printf '%s' "${members[0]}"
    return 0
  fi
  local running
  running=$(running_array_of "${members[0]}")
  if [ -n "$running" ] && ! mdadm --detail "$RAID_DEVICE" >/dev/null 2>&1; then
    # Assembling again would fail on busy disks and stop the node: use the array as the kernel named it.
    log "RAID0 is already assembled as $running (auto-assembled at boot); using it"
    printf '%s' "$running"
    return 0
  fi
  if mdadm --detail "$RAID_DEVICE" >/dev/null 2>&1; then
    log "RAID0 $RAID_DEVICE is already assembled"
  elif mdadm --examine "${members[0]}" >/dev/null 2>&1; then
    log "assembling RAID0 $RAID_DEVICE from ${members[*]}"
    mdadm --assemble "$RAID_DEVICE" "${members[@]}" >&2 || die "could not assemble $RAID_DEVICE from ${members[*]}"
  else
    log "creating RAID0 $RAID_DEVICE over ${#members[@]} instance-store disks: ${members[*]}"
    mdadm --create "$RAID_DEVICE" --level=0 --raid-devices="${#members[@]}" --name=gpuslice --run "${members[@]}" >&2 \
      || die "mdadm could not create $RAID_DEVICE"
  fi
  if command -v udevadm >/dev/null 2>&1; then udevadm settle || true; fi
  printf '%s' "$RAID_DEVICE"
}

find_device() {
  case "$MODE" in
    ebs) find_ebs_device ;;
    instance-store) instance_store_device ;;
    *) die "unknown GPUSLICE_DISK_MODE $MODE" ;;
  esac
}

wait_for_device() {
  local dev waited=0
  while :; do
    dev=$(find_device)
    if [ -n "$dev" ]; then
      printf '%s' "$dev"
      return 0
    fi
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      if [ "$MODE" = ebs ]; then
        die "data volume $DEVICE_NAME (${SIZE_GIB} GiB) is not attached (waited ${WAIT_SECONDS}s); check the launch template's block device mappings"
      fi
      die "instance store requested but this instance has no NVMe instance-store disks (waited ${WAIT_SECONDS}s)"
    fi
    sleep 2
    waited=$((waited + 2))
  done
}

# Replace any fstab line for the same mount point; add ours once.
ensure_fstab() {
  local spec=$1 mnt=$2 type=$3 opts=$4 pass=$5 fstab="$ROOT/etc/fstab" line
  line="$spec $mnt $type $opts 0 $pass"
  mkdir -p "${fstab%/*}"
  touch "$fstab"
  if grep -qxF -- "$line" "$fstab"; then return 0; fi
  awk -v mp="$mnt" '$2 != mp' "$fstab" >"$fstab.gpuslice-tmp"
  printf '%s\n' "$line" >>"$fstab.gpuslice-tmp"
  mv "$fstab.gpuslice-tmp" "$fstab"
  log "fstab: $line"
}

is_mounted() { findmnt -rno SOURCE --mountpoint "$1" >/dev/null 2>&1; }

mounted_source() { findmnt -rno SOURCE --mountpoint "$ROOT$DATA_ROOT" 2>/dev/null || true; }

# Whether $DATA_ROOT is mounted from the filesystem with UUID $1.
same_filesystem_mounted() {
  local src
  src=$(mounted_source)
  [ -n "$src" ] && [ "$(blkid -o value -s UUID "$src" 2>/dev/null || true)" = "$1" ]
}

STOPPED=()
STOP_DONE=0
stop_services_once() {
  [ "$STOP_DONE" -eq 0 ] || return 0
  STOP_DONE=1
  local s
  for s in $SERVICES; do
    if systemctl is-active --quiet "$s"; then
      log "stopping $s to move its data"
      systemctl stop "$s" || die "could not stop $s"
      STOPPED+=("$s")
    fi
  done
}

restart_services() {
  local s
  for s in "${STOPPED[@]}"; do
    log "starting $s again"
    systemctl start "$s" || die "could not restart $s"
  done
}

main() {
  local dev fstype uuid target name src
  dev=$(wait_for_device)

  fstype=$(blkid -o value -s TYPE "$dev" 2>/dev/null || true)
  if [ -z "$fstype" ]; then
    # XFS labels hold at most 12 characters (mkfs.xfs refuses a longer one), ext4 labels 16.
    if [ "$FS_TYPE" = xfs ] && [ "${#FS_LABEL}" -gt 12 ]; then
      die "filesystem label $FS_LABEL is longer than the 12 characters XFS allows"
    fi
    log "creating a filesystem ($FS_TYPE) on $dev"
    "mkfs.$FS_TYPE" -L "$FS_LABEL" "$dev" >&2 || die "mkfs.$FS_TYPE $dev failed"
    fstype=$FS_TYPE
  else
    log "$dev already has a filesystem ($fstype); keeping it"
  fi
  uuid=$(blkid -o value -s UUID "$dev" 2>/dev/null || true)
  [ -n "$uuid" ] || die "$dev has no filesystem UUID"

  mkdir -p "$ROOT$DATA_ROOT"
  ensure_fstab "UUID=$uuid" "$DATA_ROOT" "$fstype" "defaults,nofail,x-systemd.device-timeout=30s" 2
  if is_mounted "$ROOT$DATA_ROOT"; then
    same_filesystem_mounted "$uuid" || die "$DATA_ROOT is already mounted from $(mounted_source), not from the data disk $dev"
    log "$DATA_ROOT is already mounted from $dev"
  elif ! mount -t "$fstype" -o defaults "$dev" "$ROOT$DATA_ROOT"; then
    # systemd may have mounted the fstab entry between the check and the mount (EBUSY): that is success.
    same_filesystem_mounted "$uuid" || die "mounting $dev at $DATA_ROOT failed"
    log "$DATA_ROOT was mounted meanwhile from the same filesystem (UUID=$uuid); keeping that mount"
  fi

  for target in $TARGETS; do
    name=${target#/}
    name=${name//\//-}
    src="$DATA_ROOT/$name"
    mkdir -p "$ROOT$src" "$ROOT$target"
    ensure_fstab "$src" "$target" none "bind,nofail,x-systemd.requires-mounts-for=$DATA_ROOT" 0
    if is_mounted "$ROOT$target"; then
      log "$target is already mounted"
      continue
    fi
    if [ -n "$(ls -A "$ROOT$target")" ]; then
      stop_services_once
      log "moving the existing content of $target onto the data disk"
      cp -a "$ROOT$target/." "$ROOT$src/" || die "copying $target to $src failed"
      find "$ROOT$target" -mindepth 1 -delete || die "could not clear $target after copying it"
    fi
    if ! mount --bind "$ROOT$src" "$ROOT$target"; then
      is_mounted "$ROOT$target" || die "bind-mounting $src at $target failed"
      log "$target was mounted meanwhile (fstab); keeping that mount"
    fi
    log "$target is on the data disk ($dev)"
  done
  restart_services
  log "done: ${TARGETS// /, } on $dev ($fstype, UUID=$uuid)"
}

main "$@"
