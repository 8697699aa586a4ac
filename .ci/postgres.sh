# Throwaway PostgreSQL on loopback for the tests; sourced by .ci/run.
#   pg_start  → exports GHOSTNAS_TEST_POSTGRES_URL (postgresql+psycopg2://ghostnas:<random>@127.0.0.1:<port>/ghostnas)
#   pg_stop   → stops the server and deletes its folder
# Any failure returns non-zero (CI must fail, not skip, when PostgreSQL cannot start).

_pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_pg_as() {  # run a command as the server's owner (postgres refuses to run as root)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    local bin port pass
    bin="$(_pg_bin)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "ci: PostgreSQL not found; installing it" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q postgresql >/dev/null || { apt-get update -q && apt-get install -y -q postgresql >/dev/null; } || return 1
        bin="$(_pg_bin)"
        [ -x "$bin/initdb" ] || { echo "ci: initdb still missing after installing postgresql" >&2; return 1; }
    fi
    PG_DIR="$(mktemp -d /tmp/ghostnas-pg.XXXXXX)" || return 1
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" || return 1
    pass="$(python3 -c 'import secrets; print(secrets.token_hex(12))')" || return 1
    (umask 077 && printf '%s\n' "$pass" > "$PG_DIR/pw") && { [ "$(id -u)" != 0 ] || chown postgres: "$PG_DIR/pw"; } || return 1
    PG_BIN="$bin"
    _pg_as "$bin/initdb" -D "$PG_DIR/data" -U ghostnas --pwfile="$PG_DIR/pw" --auth-host=scram-sha-256 \
        --auth-local=trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    rm -f "$PG_DIR/pw"
    _pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c max_connections=200" start >/dev/null \
        || { cat "$PG_DIR/server.log" >&2; return 1; }
    _pg_as "$bin/createdb" -h "$PG_DIR" -p "$port" -U ghostnas ghostnas || return 1
    export GHOSTNAS_TEST_POSTGRES_URL="postgresql+psycopg2://ghostnas:$pass@127.0.0.1:$port/ghostnas"
    echo "ci: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PG_DIR)" >&2
}

pg_stop() {
    [ -n "${PG_DIR:-}" ] || return 0
    if [ -d "$PG_DIR/data" ]; then
        _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
}
