#!/bin/sh
# Entry point of the locally built Redis image, like the official one: the server is the
# CMD, so a command (testcontainers' `with_command("redis-server --requirepass ...")`)
# replaces it and flags alone (`--appendonly yes`) go to it; protected mode is off unless
# asked for, as the official build compiles it (reachable through published ports).
set -eu
case "${1:-}" in
    -* | *.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ]; then
    case " $* " in
        *" --protected-mode "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
