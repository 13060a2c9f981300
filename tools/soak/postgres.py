"""The soak's own PostgreSQL server, never the system's service: a data
directory under the soak's work directory and a UNIX socket beside it, which
the dispatcher reaches from any network namespace (as
selftests/test_accounting_sql.sh does).  The server runs as the postgres
user, with fsync off: the soak measures the dispatcher, not the disk."""
import glob
import json
import os
import shutil

import lab

DATABASE = "soak"  # also the name of its owner, who may create the table


class Postgres:
    def __init__(self, work):
        self.data = f"{work}/pg"
        self.socket_dir = f"{work}/pg-socket"
        self.log = f"{work}/pg.log"
        bins = glob.glob("/usr/lib/postgresql/*/bin")
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (tools/install-deps.sh)")
        self.bin = max(bins, key=lambda b: int(b.split("/")[-2]))
        self.uri = f"postgresql://{DATABASE}@/{DATABASE}?host={self.socket_dir}"

    def _as_postgres(self, program, *args):
        return lab.sh("runuser", "-u", "postgres", "--", f"{self.bin}/{program}", *args)

    def create(self):
        """A new cluster, started, with the role and database the dispatcher uses."""
        for d in (self.data, self.socket_dir):
            os.makedirs(d)
            shutil.chown(d, "postgres", "postgres")
        open(self.log, "w").close()
        shutil.chown(self.log, "postgres", "postgres")
        self._as_postgres("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                          "--locale=C.UTF-8", "--no-sync")
        self.start()
        self.sql("postgres", f"CREATE ROLE {DATABASE} LOGIN")
        self.sql("postgres", f"CREATE DATABASE {DATABASE} OWNER {DATABASE}")

    def start(self):
        self._as_postgres("pg_ctl", "-D", self.data, "-w", "-t", "60", "-s", "-l", self.log, "-o",
                          f"-k {self.socket_dir} -c listen_addresses= -F", "start")

    def stop(self):
        if os.path.exists(f"{self.data}/postmaster.pid"):
            self._as_postgres("pg_ctl", "-D", self.data, "-w", "-t", "60", "-s", "-m", "fast", "stop")

    def sql(self, database, statement):
        """Rows of `statement`, each a list of its columns."""
        out = lab.sh("psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", self.socket_dir,
                     "-U", "postgres", "-d", database, "-c", statement)
        return [line.split("\t") for line in out.splitlines()]

    def accounting_rows(self):
        """The dispatcher's rows in the order they were written: (call_id, info as a dict)."""
        rows = self.sql(DATABASE, "SELECT call_id, convert_from(info, 'UTF8') FROM media_sessions ORDER BY id")
        return [(call_id, json.loads(info)) for call_id, info in rows]
