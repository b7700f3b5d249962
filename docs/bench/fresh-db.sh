# Sourced by the benchmark scripts: `fresh_db BACKEND NAME WORKDIR` creates an empty database
# NAME (a file in WORKDIR for SQLite) and prints its URL. Only loopback servers are used.
# `bench_workdir` sets `work` to a new directory, removed at exit together with the server
# whose pid the script keeps in `server`, and raises the open-file limit for the load.
bench_workdir() {
  work=$(mktemp -d)
  server=
  trap '{ [ -n "$server" ] && kill "$server" 2>/dev/null; } || true; rm -rf "$work"' EXIT
  ulimit -n "$(ulimit -Hn)"
}

fresh_db() {
  local backend=$1 name=$2 work=$3
  case $backend in
    sqlite)   echo "sqlite://$work/$name.db?mode=rwc" ;;
    mariadb)  mysql -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $name; CREATE DATABASE $name"
              echo "mysql://root@127.0.0.1:3306/$name" ;;
    postgres) psql -q -h127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
              echo "postgres://postgres@127.0.0.1:5432/$name" ;;
    *) echo "unknown backend $backend" >&2; return 1 ;;
  esac
}
