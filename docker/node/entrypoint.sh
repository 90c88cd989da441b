#!/bin/sh
# Entry point of pacom/node.
#
#   <image> run [FLAGS]        first start: `pacom init` (identity and config in
#                              $PACOM_DATA_DIR, a volume, so they survive restarts);
#                              waits for the popular .torrent files to appear;
#                              then `exec pacom run FLAGS`
#   <image> ANY OTHER ARGS     `exec pacom ARGS` (dht-node, --version, ...)
#
# `docker exec CONTAINER pacom id|status|send|inbox|contacts ...` reaches the
# running node through its control socket in the same data directory.
set -eu

PACOM_DATA_DIR="${PACOM_DATA_DIR:-/var/lib/pacom}"
export PACOM_DATA_DIR

if [ "${1:-}" = run ]; then
  if [ ! -e "$PACOM_DATA_DIR/identity.pem" ]; then
    contact="$(/usr/local/bin/pacom init)"
    echo "pacom: new identity in $PACOM_DATA_DIR, contact $contact"
  fi
  # IP(Pb) names a bootstrap node's swarms: the address other containers
  # see, i.e. the one on the swarm network (the first global IPv4 one).
  if [ -z "${PACOM_PUBLIC_IP:-}" ]; then
    PACOM_PUBLIC_IP="$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')"
    [ -n "$PACOM_PUBLIC_IP" ] && export PACOM_PUBLIC_IP
  fi
  # The popular torrent is published by its seeder once it can serve it.
  torrents="$(echo "${PACOM_POPULAR_TORRENTS:-}" | tr ',' ' ')"
  for a in "$@"; do
    case "$a" in --popular-torrent=*) torrents="$torrents ${a#--popular-torrent=}" ;; esac
  done
  for t in $torrents; do
    i=0
    while [ ! -s "$t" ]; do
      [ "$i" = 0 ] && echo "pacom: waiting for $t"
      i=$((i + 1))
      if [ "$i" -gt 600 ]; then
        echo "pacom: $t did not appear within 5 minutes" >&2
        exit 1
      fi
      sleep 0.5
    done
  done
fi
exec /usr/local/bin/pacom "$@"
