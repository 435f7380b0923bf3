#!/bin/sh
# Creates the SQLite database of the Kamailio stand-in S-CSCF (tests/integration/kamailio/
# kamailio.cfg) from the schemas Debian ships, and provisions subscribers with their Digest HA1
# (the password itself is not stored).
#
#   create-db.sh <database-file> <realm> [<user> <password>]...
#
# Each user is the user part of the IMPU and of the Digest username (e.g. "alice" for
# sip:alice@<realm>). Needs sqlite3 and md5sum. Exits non-zero on any failure.
set -eu

if [ $# -lt 2 ] || [ $(( ($# - 2) % 2 )) -ne 0 ]; then
    echo "usage: $0 <database-file> <realm> [<user> <password>]..." >&2
    exit 2
fi
db=$1
realm=$2
shift 2
schemas=${KAMAILIO_DB_SQLITE_SCHEMAS:-/usr/share/kamailio/db_sqlite}

for schema in standard auth_db; do
    if [ ! -r "$schemas/$schema-create.sql" ]; then
        echo "$0: $schemas/$schema-create.sql not found (install kamailio-sqlite-modules)" >&2
        exit 1
    fi
done

rm -f "$db"
sqlite3 -bail "$db" < "$schemas/standard-create.sql"
sqlite3 -bail "$db" < "$schemas/auth_db-create.sql"

md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

while [ $# -ge 2 ]; do
    user=$1
    password=$2
    shift 2
    ha1=$(md5 "$user:$realm:$password")
    ha1b=$(md5 "$user@$realm:$realm:$password")
    sqlite3 -bail "$db" "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ($(quote "$user"), $(quote "$realm"), '', '$ha1', '$ha1b');"
done
