#!/usr/bin/env bash
# Brings up Podman's Docker-compatible Engine API on a unix socket, with a tiny local busybox image,
# for test/integration/container/docker-runtime.test.ts. Idempotent: every step checks first, so CI
# and developers can run it any number of times.
#
#   AETHIR_DOCKER_SOCKET  socket to serve (default /tmp/podman.sock)
#   AETHIR_TEST_IMAGE     image to import (default localhost/aethir-busybox:test)
set -euo pipefail

SOCKET="${AETHIR_DOCKER_SOCKET:-/tmp/podman.sock}"
IMAGE="${AETHIR_TEST_IMAGE:-localhost/aethir-busybox:test}"
LOG="${PODMAN_SERVICE_LOG:-/tmp/podman-service.log}"

log() { echo "podman-setup: $*"; }

ping_socket() {
  curl -fsS --max-time 3 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1
}

install_packages() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  # gVisor, for the --oci-runtime runsc tests.
  command -v runsc >/dev/null || missing+=(runsc)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  # Try without a package-list refresh first: it is slow and usually unnecessary on a warm image.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
    >/tmp/podman-setup-apt.log 2>&1; then
    apt-get update >>/tmp/podman-setup-apt.log 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
      >>/tmp/podman-setup-apt.log 2>&1 || {
      tail -20 /tmp/podman-setup-apt.log
      exit 1
    }
  fi
}

write_conf() {
  # runc: the OCI runtime installed above. cgroupfs and file events: CI machines run no systemd, so
  # neither its cgroup manager nor journald is there. No default ulimits: containers keep the
  # service's own, as raising them can be refused inside a sandbox.
  # runsc: gVisor, registered by name for the --oci-runtime runsc tests. (Podman 4.3's Docker-compatible
  # API ignores HostConfig.Runtime, which the runtime detects and refuses; Docker honours it.)
  local conf=/etc/containers/containers.conf
  local want
  want=$(
    cat <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[engine.runtimes]
runc = ["/usr/bin/runc"]
runsc = ["/usr/bin/runsc"]
CONF
  )
  if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    log "writing $conf"
    mkdir -p /etc/containers
    printf '%s\n' "$want" >"$conf"
    # A service already running keeps the runtimes it read at its start.
    if ping_socket; then log "restart the service on $SOCKET to pick up the new $conf"; fi
  fi
}

import_image() {
  if podman image exists "$IMAGE"; then return 0; fi
  log "importing $IMAGE from /bin/busybox"
  local dir
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/root"
  chmod 1777 "$dir/tmp"
  cp /bin/busybox "$dir/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
  echo 'root:x:0:' >"$dir/etc/group"
  tar -C "$dir" -c . | podman import -q --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - "$IMAGE" >/dev/null
}

# The workloads-access and lease-port e2e files (one stream: never at once) run a registry on 127.0.0.1:5055 (Debian's docker-registry): plain
# HTTP on loopback, which Podman must be told it may use.
write_registries() {
  local conf=/etc/containers/registries.conf.d/aethir-test-registry.conf
  local want
  want=$(printf '[[registry]]\nlocation = "127.0.0.1:5055"\ninsecure = true')
  if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    mkdir -p /etc/containers/registries.conf.d
    printf '%s\n' "$want" >"$conf"
  fi
}

start_service() {
  if ping_socket; then return 0; fi
  log "starting podman system service on $SOCKET (log: $LOG)"
  rm -f "$SOCKET"
  # setsid + nohup: the service must outlive this script and the CI step that ran it. It runs from
  # /tmp: conmon writes an "oom" marker into its working directory when a container is OOM-killed
  # (the memory-limit test does that), which must not land in the checkout.
  # (exec: no shell stays behind holding this script's stdout open)
  (cd /tmp && exec setsid nohup podman system service --time=0 "unix://$SOCKET") >>"$LOG" 2>&1 </dev/null &
  local i
  for i in $(seq 1 100); do
    if ping_socket; then return 0; fi
    sleep 0.2
  done
  log "the service did not answer GET /_ping on $SOCKET within 20s"
  tail -20 "$LOG" || true
  exit 1
}

install_packages
write_conf
write_registries
import_image
start_service
log "ready: $(podman --version), socket $SOCKET, image $IMAGE"
