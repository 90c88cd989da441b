#!/usr/bin/env bash
# Pokes at the PACOM swarm of docker/compose.yml from the host.
#
#   docker/pacom-swarm.sh up [N]             bring the swarm up with N PACOM nodes (default 6)
#   docker/pacom-swarm.sh ids                contact string of every PACOM container
#   docker/pacom-swarm.sh befriend           every PACOM container learns every other
#                                            as a contact: bootstrap, node1, node2, ...
#   docker/pacom-swarm.sh status N [--json]  `pacom status` in node N (0 = the bootstrap node)
#   docker/pacom-swarm.sh send N NAME TEXT   node N sends TEXT to its contact NAME
#   docker/pacom-swarm.sh inbox N            node N's inbox
#   docker/pacom-swarm.sh chat N NAME        interactive chat of node N with NAME
#   docker/pacom-swarm.sh socks PORT N       a SOCKS5 proxy on 127.0.0.1:PORT of the host,
#                                            leaving the PACOM network at node N (an exit)
#   docker/pacom-swarm.sh cut N | uncut N    disconnect node N from the swarm network / reconnect it
#   docker/pacom-swarm.sh down               tear everything down (volumes included)
#
# Environment: PACOM_PROJECT (compose project, default pacom), and what
# compose.yml reads (PACOM_NET_PREFIX, PACOM_POPULAR_SIZE, ...).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
project="${PACOM_PROJECT:-pacom}"
compose=(docker-compose -f "$here/compose.yml" -p "$project")

die() {
  echo "pacom-swarm: $*" >&2
  exit 1
}

# Service and replica index of PACOM node N (0 = bootstrap).
target() {
  case "$1" in
    0 | bootstrap) echo "bootstrap 1" ;;
    '' | *[!0-9]*) die "node number expected, got '$1'" ;;
    *) echo "node $1" ;;
  esac
}

in_node() {
  local n="$1" tty="$2"
  shift 2
  read -r service index <<<"$(target "$n")"
  "${compose[@]}" exec $tty --index "$index" "$service" pacom "$@"
}

# Number of running `node` replicas.
node_count() {
  "${compose[@]}" ps -q node | grep -c . || true
}

contact_of() {
  local out
  out="$(in_node "$1" -T id 2>&1)" || die "no contact string from node $1: $out"
  echo "${out%%$'\n'*}"
}

container_of() {
  read -r service index <<<"$(target "$1")"
  docker ps -a --format '{{.Names}}' \
    --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$service" \
    --filter "label=com.docker.compose.container-number=$index"
}

cmd="${1:-}"
[ -n "$cmd" ] || {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}
shift
case "$cmd" in
  up)
    "${compose[@]}" up -d --scale node="${1:-6}"
    ;;
  ids)
    c="$(contact_of 0)"
    echo "0 bootstrap $c"
    for i in $(seq 1 "$(node_count)"); do
      c="$(contact_of "$i")"
      echo "$i node$i $c"
    done
    ;;
  befriend)
    n="$(node_count)"
    declare -A contact
    contact[0]="$(contact_of 0)"
    for i in $(seq 1 "$n"); do contact[$i]="$(contact_of "$i")"; done
    for i in $(seq 0 "$n"); do
      for j in $(seq 0 "$n"); do
        [ "$i" = "$j" ] && continue
        name="node$j"
        [ "$j" = 0 ] && name=bootstrap
        in_node "$i" -T contacts add "$name" "${contact[$j]}" >/dev/null
      done
    done
    echo "every one of $((n + 1)) PACOM containers knows the others (bootstrap, node1..node$n)"
    ;;
  status) in_node "${1:?node number}" -T status "${@:2}" ;;
  send) in_node "${1:?node number}" -T send "${2:?contact name}" --message "${3:?text}" ;;
  inbox) in_node "${1:?node number}" -T inbox ;;
  chat) in_node "${1:?node number}" "" chat "${2:?contact name}" ;;
  socks)
    port="${1:?host port}"
    exit_contact="$(contact_of "${2:?exit node number}")"
    PACOM_SOCKS_PORT="$port" PACOM_SOCKS_EXIT="$exit_contact" \
      "${compose[@]}" --profile socks up -d --no-deps socks web
    echo "SOCKS5 proxy on 127.0.0.1:$port, exit node ${2}; try:"
    echo "  curl --socks5-hostname 127.0.0.1:$port http://web:8080/popular.torrent -o popular.torrent"
    ;;
  cut)
    c="$(container_of "${1:?node number}")"
    docker network disconnect -f "${project}_pacomnet" "$c"
    echo "$c cut off"
    ;;
  uncut)
    c="$(container_of "${1:?node number}")"
    docker network connect "${project}_pacomnet" "$c"
    echo "$c reconnected"
    ;;
  down)
    "${compose[@]}" --profile socks down -v --remove-orphans -t 5
    ;;
  *) die "unknown command '$cmd' (run without arguments for help)" ;;
esac
