#!/bin/sh
# Entry point of the locally built PostgreSQL image, drop-in for the official one on what
# test suites rely on: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_INITDB_ARGS
# and POSTGRES_HOST_AUTH_METHOD; /docker-entrypoint-initdb.d/*.sql, *.sql.gz and *.sh run
# once at first initialisation; connections from inside the container (socket, localhost)
# are trusted; `postgres` is the CMD, so flags alone (`-c fsync=off`) go to it and any
# other command replaces it. UTF-8, and tuned for throw-away test databases.
set -eu
PGBIN=/usr/lib/postgresql/15/bin
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
INITDB_D=/docker-entrypoint-initdb.d

case "${1:-postgres}" in
    -*) set -- postgres "$@" ;;
esac
if [ "$#" -eq 0 ]; then set -- postgres; fi
if [ "$1" != postgres ] && [ "$1" != "$PGBIN/postgres" ]; then
    exec "$@"  # another command (bash, psql, ...) replaces the server, as in the official image
fi
shift

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_PASSWORD:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
export POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB
mkdir -p "$PGDATA" /var/run/postgresql
# Only what is not the server's yet (as the official entrypoint does): a data directory
# from an image layer (a snapshot) would otherwise be copied up whole by overlayfs.
find "$PGDATA" /var/run/postgresql ! -user postgres -exec chown postgres:postgres {} +
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
sql() {  # sql DATABASE: run SQL from stdin on the init server, stopping at the first error
    as_postgres "$PGBIN/psql" -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" \
        --no-password --host /var/run/postgresql --dbname "$1"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    chown postgres "$pwfile"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as officially
    as_postgres "$PGBIN/initdb" -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=trust \
        --no-sync ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    # initdb trusts the socket and localhost (inside the container); the rest must
    # authenticate, unless POSTGRES_HOST_AUTH_METHOD says otherwise (e.g. trust, md5).
    echo "host all all all $POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_HOST_AUTH_METHOD" = md5 ]; then
        echo "password_encryption = md5" >> "$PGDATA/postgresql.conf"
    fi
    scripts=$(find "$INITDB_D" -mindepth 1 -maxdepth 1 2>/dev/null | sort || true)
    if [ -z "$scripts" ]; then  # the fast path: no server to start before the real one
        if [ "$POSTGRES_DB" != postgres ]; then
            quoted=$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')
            echo "CREATE DATABASE \"$quoted\";" |
                as_postgres "$PGBIN/postgres" --single -D "$PGDATA" -j postgres >/dev/null
        fi
    else
        # A server on the socket only, so nothing outside sees it before the scripts ran.
        as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses='' -c fsync=off" \
            start >/dev/null
        if [ "$POSTGRES_DB" != postgres ]; then
            quoted=$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')
            echo "CREATE DATABASE \"$quoted\";" | sql postgres
        fi
        export PGHOST=/var/run/postgresql PGUSER="$POSTGRES_USER" PGDATABASE="$POSTGRES_DB"
        export PGPASSWORD="$POSTGRES_PASSWORD"
        echo "$scripts" | while IFS= read -r f; do
            case "$f" in
                *.sh) echo "initdb.d: running $f"
                      if [ -x "$f" ]; then as_postgres "$f"; else as_postgres sh "$f"; fi ;;
                *.sql) echo "initdb.d: running $f"; sql "$POSTGRES_DB" < "$f" ;;
                *.sql.gz) echo "initdb.d: running $f"; gzip -dc < "$f" | sql "$POSTGRES_DB" ;;
                *) echo "initdb.d: ignoring $f" ;;
            esac
        done
        unset PGHOST PGUSER PGDATABASE PGPASSWORD
        as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    fi
fi

# Throw-away test databases: durability is not worth the time it costs.
exec setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA" \
    -c listen_addresses='*' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "$@"
