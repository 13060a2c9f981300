#!/bin/bash
# Accounting into PostgreSQL and MariaDB (doc/accounting.md §3): the dispatcher
# and a relay in namespaces (dispatcher_lib.sh), and a server of each kind of
# our own, not the system's services.  The dispatcher reaches them over unix
# sockets in the file system, which every network namespace sees.  The
# servers run for the whole suite, each test in databases of its own; they
# are stopped and their directories removed at the end, whatever happened.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatcher_lib.sh"

SQL=$(mktemp -d /tmp/mp-sql.XXXXXX)
chmod 755 "$SQL" # the servers run as postgres and mysql
PG_BIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
PG_SOCK=$SQL/pg-socket
MY_SOCK=$SQL/my-socket/mysqld.sock
MY_PASSWORD='se:cr@t/%' # in a URI: se%3Acr%40t%2F%25; in config.ini every % doubled
MY_PASSWORD_URI='se%%3Acr%%40t%%2F%%25'

# ---- PostgreSQL -------------------------------------------------------------

pg_ctl() { runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SQL/pg" -w -t 30 -s "$@" >>"$SQL/pg-ctl.log" 2>&1; }
pg_start() { pg_ctl -l "$SQL/pg.log" -o "-k $PG_SOCK -c listen_addresses= -F" start; }
pg_stop() { [ ! -f "$SQL/pg/postmaster.pid" ] || pg_ctl -m fast stop; }
pg_running() { [ -f "$SQL/pg/postmaster.pid" ] && pg_sql postgres "SELECT 1" >/dev/null 2>&1; }
# pg_sql DB SQL: as the superuser, rows tab-separated
pg_sql() { psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 -h "$PG_SOCK" -U postgres -d "$1" -c "$2"; }

pg_init() {
	[ -n "$PG_BIN" ] || { PG_SKIP="PostgreSQL is not installed (tools/install-deps.sh)"; return; }
	mkdir -p "$SQL/pg" "$PG_SOCK"
	touch "$SQL/pg.log"
	chown postgres: "$SQL/pg" "$PG_SOCK" "$SQL/pg.log"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$SQL/pg" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
		--no-sync >>"$SQL/pg-ctl.log" 2>&1 && pg_start &&
		pg_sql postgres "CREATE ROLE acct LOGIN; CREATE ROLE nocreate LOGIN" >/dev/null ||
		PG_FAIL="PostgreSQL did not start: $(tail -n 5 "$SQL/pg-ctl.log" "$SQL/pg.log")"
}

# pg_create DB USER: a database for USER (its owner, who may create tables),
# or for nocreate (who may connect and insert, and no more)
pg_create() {
	if [ "$2" = nocreate ]; then
		pg_sql postgres "CREATE DATABASE $1"
	else
		pg_sql postgres "CREATE DATABASE $1 OWNER $2"
	fi
}
pg_uri() { echo "postgresql://$1@/$2?host=$PG_SOCK"; }
# pg_rows DB [TABLE [INFO_COLUMN]]: call_id, from_tag, to_tag (NULL) and the
# info text, tab-separated
pg_rows() {
	pg_sql "$1" "SELECT call_id, from_tag, coalesce(to_tag, 'NULL'), convert_from(${3:-info}, 'UTF8')
		FROM ${2:-media_sessions} ORDER BY id"
}
pg_table() { pg_sql "$1" "SELECT indexdef FROM pg_indexes WHERE tablename = 'media_sessions' ORDER BY indexname"; }
# pg_times DB: call_id, the start_time column in UTC (NULL), the info text
pg_times() {
	pg_sql "$1" "SELECT call_id, coalesce(to_char(start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), 'NULL'),
		convert_from(info, 'UTF8') FROM media_sessions ORDER BY id"
}
pg_type() {
	pg_sql "$1" "SELECT data_type FROM information_schema.columns WHERE table_name = 'media_sessions'
		AND column_name = 'start_time'"
}
# the statements a DBA runs, as doc/accounting.md §3.1 shows them, for table calls, info column stats and start
# time column began
pg_ddl() {
	cat <<'EOF'
CREATE TABLE calls (
    id SERIAL PRIMARY KEY,
    call_id VARCHAR(255) NOT NULL,
    from_tag VARCHAR(64) NOT NULL,
    to_tag VARCHAR(64),
    stats BYTEA,
    began TIMESTAMP WITH TIME ZONE
);
CREATE UNIQUE INDEX calls_callid_idx ON calls (call_id, from_tag, to_tag);
CREATE INDEX calls_starttime_idx ON calls (began);
EOF
}
# the table as the original made it, and this project before the start time (doc/accounting.md §3.1)
pg_old_ddl() {
	cat <<'EOF'
CREATE TABLE media_sessions (
    id SERIAL PRIMARY KEY,
    call_id VARCHAR(255) NOT NULL,
    from_tag VARCHAR(64) NOT NULL,
    to_tag VARCHAR(64),
    info BYTEA
);
CREATE UNIQUE INDEX media_sessions_callid_idx ON media_sessions (call_id, from_tag, to_tag);
EOF
}
# pg_old_row DB CALL_ID INFO: a row as the old layout holds it
pg_old_row() {
	pg_sql "$1" "INSERT INTO media_sessions (call_id, from_tag, to_tag, info) VALUES ('$2', 'ft', 'tt', convert_to('$3', 'UTF8'))"
}
# the statements that give the old table its start time (doc/accounting.md §3.2)
pg_add_column_ddl() {
	cat <<'EOF'
ALTER TABLE media_sessions ADD COLUMN IF NOT EXISTS start_time TIMESTAMP WITH TIME ZONE;
CREATE INDEX IF NOT EXISTS media_sessions_starttime_idx ON media_sessions (start_time);
EOF
}
pg_grant_insert() { pg_sql "$1" "GRANT SELECT, INSERT ON $2 TO nocreate; GRANT USAGE ON SEQUENCE $2_id_seq TO nocreate"; }

# ---- MariaDB ------------------------------------------------------------------

my_start() {
	# the character set Debian's configuration gives: its 4 bytes make the
	# unique key longer than MyISAM's 1000 bytes (doc/accounting.md §3.1)
	mariadbd --no-defaults --datadir="$SQL/my" --socket="$MY_SOCK" --skip-networking --user=mysql \
		--pid-file="$SQL/my-socket/mysqld.pid" --log-error="$SQL/my.err" \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci </dev/null >>"$SQL/my.out" 2>&1 &
	wait_for 30 my_running
}
my_running() { mariadb-admin --no-defaults --socket="$MY_SOCK" -u root ping >/dev/null 2>&1; }
my_stop() {
	local pid
	pid=$(cat "$SQL/my-socket/mysqld.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	wait_for 30 eval "! kill -0 $pid 2>/dev/null"
}
# my_sql DB SQL: as root, rows tab-separated, values unescaped
my_sql() { mariadb --no-defaults --socket="$MY_SOCK" -u root -N -B -r -D "$1" -e "$2"; }

my_init() {
	command -v mariadbd >/dev/null || { MY_SKIP="MariaDB is not installed (tools/install-deps.sh)"; return; }
	mkdir -p "$SQL/my" "$(dirname "$MY_SOCK")"
	chown mysql: "$SQL/my" "$(dirname "$MY_SOCK")"
	mariadb-install-db --no-defaults --datadir="$SQL/my" --user=mysql --auth-root-authentication-method=socket \
		--skip-test-db >>"$SQL/my-init.log" 2>&1 && my_start &&
		my_sql mysql "CREATE USER acct@localhost IDENTIFIED BY '$MY_PASSWORD';
			CREATE USER nocreate@localhost IDENTIFIED BY 'nc'" ||
		MY_FAIL="MariaDB did not start: $(tail -n 5 "$SQL/my-init.log" "$SQL/my.err" 2>&1)"
}

my_create() {
	if [ "$2" = nocreate ]; then
		my_sql mysql "CREATE DATABASE $1; GRANT SELECT, INSERT ON $1.* TO nocreate@localhost"
	else
		my_sql mysql "CREATE DATABASE $1; GRANT ALL ON $1.* TO $2@localhost"
	fi
}
my_uri() {
	if [ "$1" = nocreate ]; then
		echo "mysql://nocreate:nc@localhost/$2?unix_socket=$MY_SOCK"
	else
		echo "mysql://acct:$MY_PASSWORD_URI@/$2?unix_socket=$MY_SOCK"
	fi
}
my_rows() {
	my_sql "$1" "SELECT call_id, from_tag, IFNULL(to_tag, 'NULL'), ${3:-info} FROM ${2:-media_sessions} ORDER BY id"
}
my_table() {
	my_sql "$1" "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$1' AND TABLE_NAME = 'media_sessions'"
	my_sql "$1" "SELECT INDEX_NAME, NON_UNIQUE, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = '$1' AND TABLE_NAME = 'media_sessions' GROUP BY INDEX_NAME, NON_UNIQUE ORDER BY INDEX_NAME"
}
my_times() {
	my_sql "$1" "SELECT call_id, IFNULL(DATE_FORMAT(start_time, '%Y-%m-%d %H:%i:%s'), 'NULL'), info FROM media_sessions
		ORDER BY id"
}
my_type() {
	my_sql "$1" "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$1'
		AND TABLE_NAME = 'media_sessions' AND COLUMN_NAME = 'start_time'"
}
my_ddl() {
	cat <<'EOF'
CREATE TABLE calls (
    id INT PRIMARY KEY AUTO_INCREMENT,
    call_id VARCHAR(255) NOT NULL,
    from_tag VARCHAR(64) NOT NULL,
    to_tag VARCHAR(64),
    stats MEDIUMBLOB,
    began DATETIME
);
ALTER TABLE calls ADD UNIQUE callid_idx (call_id, from_tag, to_tag), ADD INDEX starttime_idx (began);
ALTER TABLE calls ENGINE MyISAM;
EOF
}
my_old_ddl() {
	cat <<'EOF'
CREATE TABLE media_sessions (
    id INT PRIMARY KEY AUTO_INCREMENT,
    call_id VARCHAR(255) NOT NULL,
    from_tag VARCHAR(64) NOT NULL,
    to_tag VARCHAR(64),
    info MEDIUMBLOB
);
ALTER TABLE media_sessions ADD UNIQUE callid_idx (call_id, from_tag, to_tag);
ALTER TABLE media_sessions ENGINE MyISAM;
EOF
}
my_old_row() { my_sql "$1" "INSERT INTO media_sessions (call_id, from_tag, to_tag, info) VALUES ('$2', 'ft', 'tt', '$3')"; }
my_add_column_ddl() {
	echo "ALTER TABLE media_sessions ADD COLUMN start_time DATETIME, ADD INDEX starttime_idx (start_time);"
}
my_grant_insert() { :; } # nocreate may insert into every table of its database already

# ---- both: $K (pg or my) picks the server ---------------------------------------

servers_stop() {
	pg_stop
	my_stop
	rm -rf "$SQL"
}
trap servers_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -ne 0 ]; then
	PG_SKIP="needs root" MY_SKIP="needs root"
else
	pg_init
	my_init
fi

# db_ready: the server of $K runs (an earlier test that failed may have left it stopped)
db_ready() {
	local skip fail
	skip=$(eval echo "\${${K^^}_SKIP:-}") fail=$(eval echo "\${${K^^}_FAIL:-}")
	[ -z "$skip" ] || skip "$skip"
	[ -z "$fail" ] || fail "$fail"
	${K}_running || ${K}_start || fail "the $K server did not start again"
}
db_sql() { "${K}_sql" "$@"; }
db_create() { "${K}_create" "$@" || fail "cannot create the database $1"; }
db_uri() { "${K}_uri" "$@"; }
db_start() { "${K}_start" || fail "the $K server did not start again"; }
db_stop() { "${K}_stop"; }

# db_rows DB [TABLE [INFO_COLUMN]]: per row: call_id from_tag to_tag, and from the info
# JSON: call_id dialog_id timed_out [stream statuses]
db_rows() {
	"${K}_rows" "$@" | python3 -c "
import json, sys
for line in sys.stdin:
    call_id, from_tag, to_tag, info = line.rstrip('\n').split('\t', 3)
    i = json.loads(info)
    print(call_id, from_tag, to_tag, i['call_id'], i.get('dialog_id'), i.get('timed_out'),
          [s['status'] for s in i.get('streams', [])])"
}
# db_times DB: per row: call_id, and its start_time column: NULL, "= info" when
# it is the statistics' start_time in UTC without the fraction, else both values
db_times() {
	"${K}_times" "$1" | python3 -c "
import datetime, json, sys
for line in sys.stdin:
    call_id, column, info = line.rstrip('\n').split('\t', 2)
    t = json.loads(info)['start_time']
    want = datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S')
    print(call_id, column if column == 'NULL' else '= info' if column == want else f'{column} != {want}')"
}
# db_old_table DB USER: the table of the old layout (doc/accounting.md §3.1), USER's, with two rows
db_old_table() {
	db_sql "$1" "$(${K}_old_ddl)" || fail "cannot make the old table"
	[ "$K" != pg ] || [ "$2" = nocreate ] || pg_sql "$1" "ALTER TABLE media_sessions OWNER TO $2"
	${K}_old_row "$1" o1 '{"call_id": "o1", "start_time": 1767225612.482913, "streams": []}'
	${K}_old_row "$1" o2 '{"call_id": "o2", "start_time": 1767225700.5, "streams": []}'
	OLD_ROWS=$(db_rows "$1")
	expect_eq "$OLD_ROWS" "$(printf 'o1 ft tt o1 None None []\no2 ft tt o2 None None []')" "the old rows"
	OLD_INFO=$(${K}_rows "$1")
}
# db_info DB CALL_ID: the info column's text
db_info() { "${K}_rows" "$1" | awk -F '\t' -v id="$2" '$1 == id { print $4 }'; }
call_ids() { db_rows "$@" | cut -d' ' -f1 | tr '\n' ' '; }

# call CALL_ID: a session answered and ended (one row)
call() { { offer "$1"; answer "$1"; remove "$1"; } | proxy >/dev/null; }

start_accounting() {
	start_dispatcher "accounting = database" "[Database]" "dburi = $1" "${@:2}"
}

# the disp.log lines of the dispatcher's errors about accounting
accounting_errors() { grep -c 'ERROR: accounting' "$T/disp.log" || true; }

t_table_made() {
	db_ready
	hosts 1
	db_create made acct
	start_accounting "$(db_uri acct made)"
	grep -q "accounting: created the table media_sessions in the .* database made" "$T/disp.log" ||
		fail "no table created: $(cat "$T/disp.log")"
	start_relay 1
	# records are written in the order sessions end: a row for the unanswered
	# session would come before a1's
	{ offer never; remove never; offer a1; answer a1; remove a1; } | proxy >/dev/null
	wait_until 20 'test -n "$(db_rows made | grep "^a1 ")"' || fail "no row: $(cat "$T/disp.log")"
	expect_eq "$(db_rows made)" "a1 ft tt a1 2580:3757 False ['closed']" "the accounting rows"
	expect_eq "$(db_info made a1)" "$(sed -n 's/.*session a1 ended: //p' "$T/disp.log")" \
		"the info column against the JSON the dispatcher logged"
	expect_eq "$(db_times made)" "a1 = info" "the start_time column against the JSON's"
	if [ "$K" = pg ]; then
		expect_eq "$(pg_type made)" "timestamp with time zone" "the start_time column's type"
		expect_eq "$(pg_table made)" "$(printf '%s\n' \
			"CREATE UNIQUE INDEX media_sessions_callid_idx ON public.media_sessions USING btree (call_id, from_tag, to_tag)" \
			"CREATE UNIQUE INDEX media_sessions_pkey ON public.media_sessions USING btree (id)" \
			"CREATE INDEX media_sessions_starttime_idx ON public.media_sessions USING btree (start_time)")" "the indexes"
	else
		expect_eq "$(my_type made)" "datetime" "the start_time column's type"
		expect_eq "$(my_table made)" \
			"$(printf 'MyISAM\ncallid_idx\t0\tcall_id,from_tag,to_tag\nPRIMARY\t0\tid\nstarttime_idx\t1\tstart_time')" \
			"the engine and indexes"
	fi
	# the table dropped under the running dispatcher: made again for the next record (doc/accounting.md §3.2)
	db_sql made "DROP TABLE media_sessions"
	call a2
	wait_until 20 'test "$(call_ids made)" = "a2 "' || fail "rows after the drop: $(call_ids made) $(cat "$T/disp.log")"
	grep -q "accounting: the table media_sessions was missing; created it again" "$T/disp.log" ||
		fail "not logged: $(cat "$T/disp.log")"
	expect_eq "$(accounting_errors)" 0 "accounting errors"
}

t_outage() {
	local errors
	db_ready
	hosts 1
	db_create outage acct
	start_accounting "$(db_uri acct outage)"
	start_relay 1
	call a1
	wait_until 20 'test -n "$(db_rows outage)"' || fail "no row: $(cat "$T/disp.log")"
	db_stop
	for c in b1 b2 b3; do call $c; done
	wait_until 20 'test "$(wc -l <"$T/disp/run/accounting-database.spool" 2>/dev/null)" = 3' ||
		fail "spooled records: $(cat "$T/disp/run/accounting-database.spool"; cat "$T/disp.log")"
	# what is tested: in 6 s, more than the 5 s between replays, the replay
	# that fails while the server is away is not logged again
	sleep 6
	expect_eq "$(grep -c 'spooling them to' "$T/disp.log")" 1 "outages logged"
	[ "$(accounting_errors)" -le 1 ] || fail "errors per record or per retry: $(grep 'ERROR: accounting' "$T/disp.log")"
	db_start
	wait_for 20 grep -q "3 spooled records written" "$T/disp.log" || fail "no replay: $(cat "$T/disp.log")"
	grep -q "takes records again" "$T/disp.log" || fail "the end of the outage is not logged"
	[ ! -e "$T/disp/run/accounting-database.spool" ] || fail "the spool is left"
	call c1
	wait_until 20 'test "$(call_ids outage)" = "a1 b1 b2 b3 c1 "' ||
		fail "rows, in order and once each: $(call_ids outage)"
	# a restart while the dispatcher is idle: the next record takes a new
	# connection at once, without an error or the spool
	errors=$(accounting_errors)
	db_stop
	db_start
	call e1
	wait_until 20 'test "$(call_ids outage)" = "a1 b1 b2 b3 c1 e1 "' ||
		fail "rows after a restart while idle: $(call_ids outage) $(cat "$T/disp.log")"
	expect_eq "$(grep -c 'spooling them to' "$T/disp.log")" 1 "outages logged after a restart while idle"
	expect_eq "$(accounting_errors)" "$errors" "accounting errors after a restart while idle"
}

t_no_create_rights() {
	local ddl
	db_ready
	hosts 1
	db_create rights nocreate
	start_accounting "$(db_uri nocreate rights)" "sessions_table = calls" "info_column = stats" \
		"starttime_column = began"
	wait_for 20 grep -q "ERROR: accounting: cannot create the table calls: " "$T/disp.log" ||
		fail "no error about the table: $(cat "$T/disp.log")"
	grep -q "the database user nocreate needs the CREATE and ALTER rights on the database rights" "$T/disp.log" ||
		fail "the user and database are not named: $(cat "$T/disp.log")"
	ddl=$(sed -n '/^--------8<--------$/,/^--------8<--------$/p' "$T/disp.log" | sed '1d;$d')
	expect_eq "$ddl" "$(${K}_ddl)" "the statements between the scissors lines"
	start_relay 1
	call r1
	wait_for 20 grep -q "spooling them to" "$T/disp.log" || fail "no spooling: $(cat "$T/disp.log")"
	# what is tested: in 6 s, more than the 5 s between replays, the replay
	# that tries to create the table again does not repeat the advice
	sleep 6
	expect_eq "$(grep -c 'cannot create the table calls' "$T/disp.log")" 1 "times the failure was logged"
	# the DBA runs the logged statements and grants the insert
	db_sql rights "$ddl" || fail "the logged statements do not run"
	${K}_grant_insert rights calls
	wait_for 20 grep -q "1 spooled records written" "$T/disp.log" || fail "no replay: $(cat "$T/disp.log")"
	expect_eq "$(db_rows rights calls stats)" "r1 ft tt r1 2580:3757 False ['closed']" "the row in calls"
}

t_duplicate() {
	db_ready
	hosts 1
	db_create dup acct
	start_accounting "$(db_uri acct dup)"
	start_relay 1
	call d1
	wait_until 20 'test -n "$(db_rows dup)"' || fail "no row: $(cat "$T/disp.log")"
	kill -TERM "$DISPATCHER"
	wait "$DISPATCHER" || true
	# a spool from a run that wrote d1 but died before it knew: d1 again, a
	# record whose Call-ID is longer than its column, then d2
	python3 -c '
import json, sys
info = sys.stdin.read().rstrip("\n")
print(json.dumps(["d1", "ft", "tt", info]))
print(json.dumps(["x" * 300, "ft", "tt", "{}"]))
print(json.dumps(["d2", "ft", None, "{\"call_id\": \"d2\", \"streams\": []}"]))' \
		<<<"$(db_info dup d1)" >"$T/disp/run/accounting-database.spool"
	start_accounting "$(db_uri acct dup)"
	wait_for 20 grep -q "3 spooled records written" "$T/disp.log" || fail "no replay: $(cat "$T/disp.log")"
	grep -q "the record of d1 was already in the database" "$T/disp.log" || fail "$(cat "$T/disp.log")"
	grep -q "ERROR: accounting: the .* database refused the record of xxxxx* for good: .*; it is dropped" \
		"$T/disp.log" || fail "the record too long for its column: $(cat "$T/disp.log")"
	expect_eq "$(call_ids dup)" "d1 d2 " "rows, d1 once"
	expect_eq "$(db_rows dup | sed -n 2p)" "d2 ft NULL d2 None None []" "the row without a to_tag"
	[ ! -e "$T/disp/run/accounting-database.spool" ] || fail "the spool is left"
}

t_old_layout() {
	db_ready
	hosts 1
	db_create old acct
	db_old_table old acct
	if [ "$K" = pg ]; then
		# the column holds instants: the session's time zone must not shift them
		pg_sql postgres "ALTER ROLE acct IN DATABASE old SET timezone = 'America/New_York'"
	fi
	start_accounting "$(db_uri acct old)"
	wait_for 20 grep -q "INFO: accounting: added the column start_time to the table media_sessions" "$T/disp.log" ||
		fail "no column added: $(cat "$T/disp.log")"
	start_relay 1
	call n1
	wait_until 20 'test "$(call_ids old)" = "o1 o2 n1 "' || fail "rows: $(call_ids old) $(cat "$T/disp.log")"
	expect_eq "$(db_rows old | head -n 2)" "$OLD_ROWS" "the old rows after the migration"
	expect_eq "$(${K}_rows old | head -n 2)" "$OLD_INFO" "the old rows' columns, byte for byte"
	expect_eq "$(db_times old)" "$(printf 'o1 NULL\no2 NULL\nn1 = info')" "the start_time column"
	expect_eq "$(${K}_type old)" "$(if [ "$K" = pg ]; then echo timestamp with time zone; else echo datetime; fi)" \
		"the added column's type"
	if [ "$K" = pg ]; then
		pg_table old | grep -qx "CREATE INDEX media_sessions_starttime_idx ON public.media_sessions USING btree (start_time)" ||
			fail "no index: $(pg_table old)"
	else
		my_table old | grep -qx "starttime_idx	1	start_time" || fail "no index: $(my_table old)"
	fi
	expect_eq "$(accounting_errors)" 0 "accounting errors"
}

t_no_alter_rights() {
	local ddl
	db_ready
	hosts 1
	db_create noalter nocreate
	db_old_table noalter nocreate
	${K}_grant_insert noalter media_sessions
	start_accounting "$(db_uri nocreate noalter)"
	wait_for 20 grep -q "WARNING: accounting: cannot add the column start_time to the table media_sessions: .*; records \
are written without it" "$T/disp.log" || fail "no warning about the column: $(cat "$T/disp.log")"
	grep -q "the database user nocreate needs the ALTER right on the table media_sessions in the database noalter" \
		"$T/disp.log" || fail "the user and database are not named: $(cat "$T/disp.log")"
	ddl=$(sed -n '/^--------8<--------$/,/^--------8<--------$/p' "$T/disp.log" | sed '1d;$d')
	expect_eq "$ddl" "$(${K}_add_column_ddl)" "the statements between the scissors lines"
	start_relay 1
	call w1
	wait_until 20 'test "$(call_ids noalter)" = "o1 o2 w1 "' || fail "rows: $(call_ids noalter) $(cat "$T/disp.log")"
	expect_eq "$(db_rows noalter | head -n 2)" "$OLD_ROWS" "the old rows"
	expect_eq "$(accounting_errors)" 0 "accounting errors"
	[ ! -e "$T/disp/run/accounting-database.spool" ] || fail "records spooled: $(cat "$T/disp.log")"
	# the DBA runs the logged statements; the dispatcher's next start fills the column
	db_sql noalter "$ddl" || fail "the logged statements do not run"
	kill -TERM "$DISPATCHER"
	wait "$DISPATCHER" || true
	start_accounting "$(db_uri nocreate noalter)"
	wait_until 20 'test "$(grep -c "relay 198.18.10.2 connected" "$T/disp.log")" = 2' ||
		fail "the relay did not come back: $(cat "$T/disp.log")"
	call w2
	wait_until 20 'test "$(call_ids noalter)" = "o1 o2 w1 w2 "' || fail "rows: $(call_ids noalter) $(cat "$T/disp.log")"
	expect_eq "$(db_times noalter)" "$(printf 'o1 NULL\no2 NULL\nw1 NULL\nw2 = info')" "the start_time column"
	expect_eq "$(grep -c "cannot add the column" "$T/disp.log")" 1 "warnings about the column"
}

for K in pg my; do
	case $K in
	pg) server=PostgreSQL ;;
	my) server=MariaDB ;;
	esac
	run_test "$server: the table is made when missing (doc/accounting.md §3.1); a session's row holds its tags and its JSON unchanged" \
		t_table_made
	run_test "$server stopped mid-run: records spool with one log line, then arrive once each and in order" t_outage
	run_test "$server user without CREATE rights: the table, user and database named, the DDL between scissors; \
written once the DBA ran it" t_no_create_rights
	run_test "$server: a table of the old layout with rows gets the start_time column and its index; old rows \
unchanged with NULL, new rows carry the call's start time" t_old_layout
	run_test "$server user without ALTER rights on an old table: the reason and the statements logged, rows \
written without the start time; with it once the DBA ran them" t_no_alter_rights
	run_test "$server: a record replayed from the spool that is already there is not inserted twice; one that \
can never fit is dropped, not retried for ever" t_duplicate
done
