#!/bin/sh
# Start crowdgate: migrate the database, then hand the process over to gunicorn.
# Extra arguments are passed to gunicorn (e.g. --log-level debug).
set -eu

here=$(dirname "$0")

crowdgate db upgrade
exec gunicorn -c "$here/gunicorn.conf.py" "$@" crowdgate.wsgi:app
