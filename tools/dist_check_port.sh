#!/usr/bin/env bash
# Stop with one line when the rendezvous port of tools/dist_*.sh is taken.
# Usage: tools/dist_check_port.sh PORT SCRIPT  (checked on node 0 only)
PORT=$1
SCRIPT=$2
if ! ${PYTHON:-python} - "$PORT" <<'PY'
import socket
import sys

with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(('', int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
then
    echo "error: port $PORT is in use (another distributed job?); choose a free one, e.g. PORT=$((PORT + 1)) $SCRIPT ..." >&2
    exit 2
fi
