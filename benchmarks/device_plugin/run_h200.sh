#!/usr/bin/env bash
# Run NVIDIA's own device plugin, GFD, MPS control daemon and config-manager on a real GPU node, for every
# device-plugin config key gpuslice renders, and capture what they say. Runs as root on a node with the
# NVIDIA driver (NVML, nvidia-smi, nvidia-cuda-mps-control); no Kubernetes: benchmarks/device_plugin/
# kubelet_standin.py plays the kubelet and fake_node_api.py the API server that config-manager watches.
#
# usage: run_h200.sh plugin|bench|config-manager|all DEV OUT
#   DEV  a folder with bins.tar.xz (scripts/build-nvidia-device-plugin.sh output, tar'ed), configs/*.yaml +
#        manifest.json (benchmarks/device_plugin/prepare.py), optionally whl/*.whl (grpcio, protobuf)
#   OUT  results folder (created)
# The README next to the committed results gives the exact invocation used.
set -u
phase=$1
dev=$(cd "$2" && pwd)
out=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PYTHONUNBUFFERED=1
log() { echo "[$(date -u +%H:%M:%S)] $*"; }

if ls "$dev"/whl/*.whl >/dev/null 2>&1 && [ ! -d /tmp/site/grpc ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$dev"/whl/*.whl
fi
export PYTHONPATH=$root/src:/tmp/site
BIN=/tmp/nvbin
if [ ! -x $BIN/v0.20.0/nvidia-device-plugin ]; then
  mkdir -p $BIN && xz -T0 -dc "$dev/bins.tar.xz" | tar -x -C $BIN
fi
PLUGIN_DIR=/var/lib/kubelet/device-plugins
MPS_PIPE=/mps/nvidia.com/gpu/pipe
manifest=$dev/manifest.json
key_field() { python3 -c "import json,sys; print(json.load(open('$manifest'))['keys']['$1']['$2'])"; }

wait_for() { # wait_for SECONDS CMD...
  local t=$1
  shift
  for _ in $(seq 1 $((t * 10))); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

mps_ask() { echo "$1" | CUDA_MPS_PIPE_DIRECTORY=$MPS_PIPE timeout 10 nvidia-cuda-mps-control 2>&1; }
compute_mode() { nvidia-smi --query-gpu=compute_mode --format=csv,noheader 2>&1; }

start_mps_daemon() { # start_mps_daemon VERSION CONFIG DIR -> sets mps_pid
  rm -rf /mps && mkdir -p /mps
  log "  mps-control-daemon $1 $(basename "$2")"
  "$BIN/$1/mps-control-daemon" --config-file "$2" >"$3/mps-daemon.log" 2>&1 &
  mps_pid=$!
  if wait_for 60 test -e /mps/.ready; then
    {
      echo "compute_mode: $(compute_mode)"
      echo "get_default_active_thread_percentage: $(mps_ask get_default_active_thread_percentage)"
      echo "get_default_device_pinned_mem_limit 0: $(mps_ask 'get_default_device_pinned_mem_limit 0')"
    } >"$3/mps-limits.txt"
    return 0
  fi
  echo "daemon not ready after 60 s" >"$3/mps-limits.txt"
  return 1
}

stop_mps_daemon() { # stop_mps_daemon DIR
  kill -TERM "$mps_pid" 2>/dev/null
  wait_for 30 sh -c "! kill -0 $mps_pid 2>/dev/null"
  kill -KILL "$mps_pid" 2>/dev/null
  wait "$mps_pid" 2>/dev/null
  cp /mps/nvidia.com/gpu/log/control.log "$1/mps-control.log" 2>/dev/null
  echo "compute_mode after stop: $(compute_mode)" >>"$1/mps-limits.txt"
}

run_plugin() { # run_plugin VERSION CONFIG DIR [extra plugin args]
  local v=$1 cfg=$2 d=$3
  shift 3
  rm -rf "$PLUGIN_DIR" && mkdir -p "$PLUGIN_DIR"
  python3 "$here/kubelet_standin.py" serve --dir "$PLUGIN_DIR" --events "$d/kubelet-events.jsonl" >"$d/kubelet.log" 2>&1 &
  local kpid=$!
  wait_for 20 test -S "$PLUGIN_DIR/kubelet.sock"
  (exec -a nvidia-device-plugin "$BIN/$v/nvidia-device-plugin" --config-file "$cfg" --mps-root /run/nvidia/mps "$@" \
    >"$d/plugin.log" 2>&1) &
  local ppid=$!
  wait_for 40 grep -qs '"probe-done"' "$d/kubelet-events.jsonl"
  echo $? >"$d/plugin.rc"
  kill -TERM $ppid 2>/dev/null
  wait $ppid 2>/dev/null
  kill -TERM $kpid 2>/dev/null
  wait $kpid 2>/dev/null
  python3 "$here/kubelet_standin.py" summarize "$d/kubelet-events.jsonl" >"$d/plugin.json"
}

phase_env() {
  {
    date -u
    uname -a
    nvidia-smi
    nvidia-smi -q | grep -E -i "product name|driver version|cuda version|compute mode|mig mode|current +:|fb memory|total" | head -20
    ls -l /dev/nvidia* 2>&1
    ldconfig -p | grep -E "libnvidia-ml|libcuda\.so" 2>&1
    command -v nvidia-cuda-mps-control nvidia-smi
    python3 -c 'import grpc, google.protobuf, torch; print("grpc", grpc.__version__, "protobuf", google.protobuf.__version__, "torch", torch.__version__)'
    for v in "$BIN"/v*; do echo "$(basename "$v") $(cat "$v/COMMIT")"; done
  } >"$out/env.txt" 2>&1
}

phase_plugin() {
  for v in v0.17.4 v0.20.0; do
    for cfg in "$dev"/configs/*.yaml; do
      key=$(basename "$cfg" .yaml)
      d=$out/$v/$key
      mkdir -p "$d"
      log "$v $key: gfd"
      timeout 60 "$BIN/$v/gpu-feature-discovery" --oneshot --no-timestamp --output-file "$d/gfd.labels" \
        --config-file "$cfg" >"$d/gfd.log" 2>&1
      echo $? >"$d/gfd.rc"
      mps=no
      if [ "$(key_field "$key" strategy)" = mps ]; then
        start_mps_daemon "$v" "$cfg" "$d" && mps=yes
      fi
      log "$v $key: device plugin under the kubelet stand-in"
      run_plugin "$v" "$cfg" "$d"
      [ $mps = yes ] && stop_mps_daemon "$d"
    done
  done
  phase_config_manager v0.20.0
}

phase_config_manager() { # the operator's init container (--oneshot) + sidecar, label changes from a file
  local v=$1 d=$out/$1/config-manager
  mkdir -p "$d" /tmp/cm/src
  rm -f /tmp/cm/config.yaml
  for cfg in "$dev"/configs/*.yaml; do cp "$cfg" "/tmp/cm/src/$(basename "$cfg" .yaml)"; done
  echo time-slicing-2 >/tmp/cm/label
  python3 "$here/fake_node_api.py" --node h200 --label-file /tmp/cm/label --kubeconfig /tmp/cm/kubeconfig \
    >"$d/fake-api.url" 2>"$d/fake-api.log" &
  local api=$!
  wait_for 20 test -s /tmp/cm/kubeconfig
  local cm_args=(--kubeconfig /tmp/cm/kubeconfig --node-name h200 --config-file-srcdir /tmp/cm/src
    --config-file-dst /tmp/cm/config.yaml --default-config exclusive --fallback-strategies empty)
  log "config-manager $v: oneshot (init container)"
  timeout 60 "$BIN/$v/config-manager" "${cm_args[@]}" --oneshot --send-signal=false >"$d/init.log" 2>&1
  echo "init rc $? -> $(readlink /tmp/cm/config.yaml)" >"$d/timeline.txt"
  rm -rf "$PLUGIN_DIR" && mkdir -p "$PLUGIN_DIR"
  python3 "$here/kubelet_standin.py" serve --dir "$PLUGIN_DIR" --events "$d/kubelet-events.jsonl" >"$d/kubelet.log" 2>&1 &
  local kpid=$!
  wait_for 20 test -S "$PLUGIN_DIR/kubelet.sock"
  (exec -a nvidia-device-plugin "$BIN/$v/nvidia-device-plugin" --config-file /tmp/cm/config.yaml \
    >"$d/plugin.log" 2>&1) &
  local ppid=$!
  "$BIN/$v/config-manager" "${cm_args[@]}" --send-signal=true --signal 1 --process-to-signal nvidia-device-plugin \
    >"$d/sidecar.log" 2>&1 &
  local cm=$!
  wait_for 30 grep -qs '"probe-done"' "$d/kubelet-events.jsonl"
  local n=1
  for key in time-slicing-4 time-slicing-8 exclusive; do
    n=$((n + 1))
    echo "$(date -u +%s.%N) label -> $key" >>"$d/timeline.txt"
    echo $key >/tmp/cm/label
    wait_for 40 sh -c "[ \$(grep -cs '\"probe-done\"' '$d/kubelet-events.jsonl') -ge $n ]" ||
      echo "$(date -u +%s.%N) no new registration for $key" >>"$d/timeline.txt"
    echo "$(date -u +%s.%N) config.yaml -> $(readlink /tmp/cm/config.yaml)" >>"$d/timeline.txt"
  done
  kill -TERM $cm $ppid 2>/dev/null
  wait $cm $ppid 2>/dev/null
  kill -TERM $kpid $api 2>/dev/null
  wait $kpid $api 2>/dev/null
  python3 "$here/kubelet_standin.py" summarize "$d/kubelet-events.jsonl" >"$d/plugin.json"
}

phase_bench() { # emulated MPS (gpuslice's own daemon) vs NVIDIA's mps-control-daemon, same GPU, same session
  local b=$out/bench
  mkdir -p "$b"
  log "bench: default matrix (emulated MPS)"
  local t0=$SECONDS
  gs bench -d "$b/emulated" --no-plots -o json >"$b/emulated.log" 2>&1
  echo "default matrix: $((SECONDS - t0)) s wall (exit $?)" >"$b/default-matrix.time"
  for r in 2 4 8; do
    local d=$b/nvidia-mps-$r
    mkdir -p "$d"
    start_mps_daemon v0.20.0 "$dev/configs/mps-$r.yaml" "$d" || continue
    log "bench: mps x$r through NVIDIA's mps-control-daemon"
    gs bench -d "$d/out" --no-plots -o json --strategies mps --n "$r" \
      --mps-pipe-dir $MPS_PIPE --baseline-from "$b/emulated/results.json" >"$d/bench.log" 2>&1
    stop_mps_daemon "$d"
  done
}

# gpuslice's bench command alone (the GPU image has typer and rich, not the whole CLI's dependencies)
gs() { python3 -c 'import typer; from gpuslice.commands import bench as b; a = typer.Typer(); b.register(a); a()' "$@"; }

phase_env
case $phase in
  plugin) phase_plugin ;;
  bench) phase_bench ;;
  config-manager) phase_config_manager v0.20.0 ;;
  all)
    phase_plugin
    phase_bench
    ;;
  *)
    echo "usage: $0 plugin|bench|all DEV OUT" >&2
    exit 2
    ;;
esac
log "done"
