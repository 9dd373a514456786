"""Units as roles on a PostgreSQL ledger: the office and unit group roles, which login is
which unit, and the grants and row-level security that let the server itself refuse a unit
writing another unit's work (docs/team.md explains the design to an office).

Two NOLOGIN group roles per ledger database, `<database>_office` and `<database>_unit`
(roles belong to the whole server, so a second ledger on the same server gets its own), and
one table, `unit_logins(login, unit)`, that maps each unit login to its unit. Policies read
that table through `current_user`, the role whose privileges PostgreSQL checks, so the grant
and the row rules can never disagree about who is writing. No function here is SECURITY
DEFINER: nothing runs with the owner's rights on a unit's behalf, which is why the tables
need no FORCE ROW LEVEL SECURITY (the owner, the DBA, can switch RLS off anyway).

The derived task status is the one hole a plain column grant would leave: a unit must update
tasks.status when its assignment changes, and must not set it to anything else. The unit's
UPDATE policy on tasks therefore checks the new status against `gongkai.derived_status`, the
SQL spelling of domain.statuses.derived_status (tests compare the two on every combination).

`server init` makes or refreshes all of it, idempotently, inside one transaction; it is kept
out of the migrations because only the owner can run it and a ledger works without it (the
single-account case).

Imported only for a server URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from psycopg import sql

from ..domain.statuses import Status
from . import Refusal
from .postgres_schema import SCHEMA

if TYPE_CHECKING:
    import psycopg

    from .postgres import PostgresStore

    Connection = psycopg.Connection[tuple[Any, ...]]

_T = TypeVar("_T")


class NotOwner(Refusal):
    """`server` commands need the tables' owner; `user` is not."""

    user: str


class NoTeam(Refusal):
    """`server init` has not been run on this ledger."""


class BadLogin(Refusal):
    """The role `user` cannot be a unit's or the office's: `why` is missing, nologin, superuser or
    bypassrls (row-level security does not apply to either of the last two)."""

    user: str
    why: str


class AlreadyOther(Refusal):
    """The login is the office's (`unit` None) or another unit's, and must be revoked first."""

    user: str
    unit: str | None


class Login(NamedTuple):
    """Who a connection writes as."""

    user: str
    unit: str | None  # the unit this login is mapped to; None for the office and the owner
    office: bool  # may do what the office does (the office role's members and the tables' owner)

    @property
    def recorder(self) -> str | None:
        """The `by` a unit login's changes carry, checked by the server; None: free to choose."""
        return f"{self.unit}（{self.user}）" if self.unit is not None else None


class Roles(NamedTuple):
    office: str
    unit: str


# The tables a unit may read and the office may write; events only grow (m002's trigger).
# unit_file (m004) is the office's unit file: a unit reads it with every --unit, never writes it.
# unit_contacts and mail_sent (m008): the office keeps the contacts and sends the reminders.
_TABLES = ("plans", "tasks", "units", "task_units", "assignments", "notes", "events", "unit_file", "unit_contacts",
           "mail_sent")
# Rows whose writer matters: row-level security on these.
_SECURED = ("tasks", "assignments", "notes", "events", "unit_logins")

_STATUS_RULE = f"""
CREATE OR REPLACE FUNCTION {SCHEMA}.status_of(statuses text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    -- models.derived_status: cancelled when every assignment is; else done when every live one
    -- is; else blocked when any is; else doing once any has started; else todo.
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM unnest(statuses) s WHERE s <> '{Status.CANCELLED.value}')
            THEN '{Status.CANCELLED.value}'
        WHEN NOT EXISTS (SELECT 1 FROM unnest(statuses) s
                         WHERE s NOT IN ('{Status.CANCELLED.value}', '{Status.DONE.value}'))
            THEN '{Status.DONE.value}'
        WHEN '{Status.BLOCKED.value}' = ANY(statuses) THEN '{Status.BLOCKED.value}'
        WHEN statuses && ARRAY['{Status.DOING.value}', '{Status.DONE.value}'] THEN '{Status.DOING.value}'
        ELSE '{Status.TODO.value}'
    END
$$
"""

_FUNCTIONS = (
    _STATUS_RULE,
    f"""
    CREATE OR REPLACE FUNCTION {SCHEMA}.derived_status(task_pk bigint) RETURNS text
    LANGUAGE sql STABLE AS $$
        SELECT {SCHEMA}.status_of(ARRAY(SELECT a.status FROM {SCHEMA}.assignments a WHERE a.task = task_pk))
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION {SCHEMA}.login_unit() RETURNS text
    LANGUAGE sql STABLE AS $$
        SELECT unit FROM {SCHEMA}.unit_logins WHERE login = current_user
    $$
    """,
    # Written into notes.by and events.by: the unit and the login, not a name anyone can type.
    f"""
    CREATE OR REPLACE FUNCTION {SCHEMA}.recorder() RETURNS text
    LANGUAGE sql STABLE AS $$
        SELECT {SCHEMA}.login_unit() || '（' || current_user || '）'
    $$
    """,
    # The unit of the assignment a note is on, when the note belongs to that plan's task.
    f"""
    CREATE OR REPLACE FUNCTION {SCHEMA}.note_unit(note_id bigint, plan_name text, task_id integer) RETURNS text
    LANGUAGE sql STABLE AS $$
        SELECT a.unit FROM {SCHEMA}.notes n
        JOIN {SCHEMA}.assignments a ON a.pk = n.assignment AND a.task = n.task
        JOIN {SCHEMA}.tasks t ON t.pk = n.task
        WHERE n.id = note_id AND t.plan = plan_name AND t.id IS NOT DISTINCT FROM task_id
    $$
    """,
)

# (table, policy name, command, role kind, USING, WITH CHECK); {s} is the schema.
_OWN_ASSIGNMENT = ("EXISTS (SELECT 1 FROM {s}.assignments a WHERE a.pk = notes.assignment AND a.task = notes.task"
                   " AND a.unit = {s}.login_unit())")
_OWN_TASK = "EXISTS (SELECT 1 FROM {s}.assignments a WHERE a.task = tasks.pk AND a.unit = {s}.login_unit())"
_POLICIES: tuple[tuple[str, str, str, str, str | None, str | None], ...] = (
    *((table, "office_all", "ALL", "office", "true", "true") for table in _SECURED if table != "unit_logins"),
    ("unit_logins", "office_read", "SELECT", "office", "true", None),
    *((table, "unit_read", "SELECT", "unit", "true", None) for table in _SECURED if table != "unit_logins"),
    ("unit_logins", "unit_read", "SELECT", "unit", "login = current_user", None),
    # USING names the unit's own rows: SELECT … FOR UPDATE takes the UPDATE policy's USING too,
    # so a unit's psql can lock only what it may change and never stall the others' writes
    # (issue 25); another unit's row is left as it is ("UPDATE 0"). The column grants keep
    # `unit` itself out of reach.
    ("assignments", "unit_update", "UPDATE", "unit", "unit = {s}.login_unit()", "unit = {s}.login_unit()"),
    ("tasks", "unit_update", "UPDATE", "unit", _OWN_TASK, _OWN_TASK + " AND tasks.status = {s}.derived_status(tasks.pk)"),
    ("notes", "unit_insert", "INSERT", "unit", None,
     "retracted_at IS NULL AND retracted_by IS NULL AND \"by\" = {s}.recorder() AND " + _OWN_ASSIGNMENT),
    ("notes", "unit_retract", "UPDATE", "unit", _OWN_ASSIGNMENT, "retracted_by = {s}.recorder() AND " + _OWN_ASSIGNMENT),
    ("events", "unit_append", "INSERT", "unit", None,
     "\"by\" = {s}.recorder() AND ("
     "(action IN ('note', 'status') AND undoes IS NULL"
     " AND {s}.note_unit((after ->> 'note')::bigint, plan, task) = {s}.login_unit())"
     " OR (action = 'undo' AND EXISTS (SELECT 1 FROM {s}.events u WHERE u.id = events.undoes"
     " AND u.action IN ('note', 'status')"
     " AND {s}.note_unit((u.after ->> 'note')::bigint, u.plan, u.task) = {s}.login_unit())))"),
)


def in_transaction(store: PostgresStore, work: Callable[[Connection], _T]) -> _T:
    """`work` on the store's connection in one transaction; a server error is one line as elsewhere.
    For reads (who is logged in): what changes roles, grants or policies is PostgresStore.administer."""
    with store._errors(), store.conn.transaction():
        return work(store.conn)


def roles(conn: Connection) -> Roles | None:
    """The ledger's group roles, once `server init` has made them."""
    if conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.team_roles",)).fetchone() == (None,):
        return None
    found: dict[str, str] = dict(conn.execute(f"SELECT kind, role FROM {SCHEMA}.team_roles").fetchall())
    return Roles(found["office"], found["unit"]) if len(found) == 2 else None


def login(conn: Connection) -> Login:
    """Who `conn` writes as. Office rights are read off the privileges themselves (may it add
    a plan), so the tables' owner counts as the office and a revoked login as neither."""
    user, office = conn.execute(
        "SELECT current_user, has_table_privilege(%s, 'INSERT')", (f"{SCHEMA}.plans",)
    ).fetchone() or ("", False)
    unit = None
    if conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.unit_logins",)).fetchone() != (None,) and conn.execute(
        "SELECT has_table_privilege(%s, 'SELECT')", (f"{SCHEMA}.unit_logins",)
    ).fetchone() == (True,):
        row = conn.execute(f"SELECT unit FROM {SCHEMA}.unit_logins WHERE login = current_user").fetchone()
        unit = row[0] if row else None
    return Login(user, unit, bool(office) and unit is None)


def init(conn: Connection) -> Roles:
    """Make or refresh the roles, grants, functions and policies; inside the caller's transaction."""
    _require_owner(conn)
    (database,) = conn.execute("SELECT current_database()").fetchone() or ("",)
    wanted = roles(conn) or Roles(f"{database}_office", f"{database}_unit")
    for role in wanted:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    conn.execute(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.team_roles (
                         kind text PRIMARY KEY CHECK (kind IN ('office', 'unit')), role name NOT NULL)""")
    conn.execute(f"""INSERT INTO {SCHEMA}.team_roles VALUES ('office', %s), ('unit', %s)
                     ON CONFLICT (kind) DO UPDATE SET role = excluded.role""", wanted)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.unit_logins (login name PRIMARY KEY, unit text NOT NULL)")
    for statement in _FUNCTIONS:
        conn.execute(statement)
    office, unit = (sql.Identifier(role) for role in wanted)
    schema = sql.Identifier(SCHEMA)
    every = sql.SQL(", ").join(sql.Identifier(SCHEMA, table) for table in (*_TABLES, "migrations", "team_roles",
                                                                          "unit_logins"))
    grants = [
        # From nothing each time, so that a re-run takes back what an older release granted.
        sql.SQL("REVOKE ALL ON {} FROM {}, {}").format(every, office, unit),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}, {}").format(schema, office, unit),
        sql.SQL("GRANT SELECT ON {} TO {}, {}").format(every, office, unit),
        sql.SQL("GRANT INSERT, UPDATE, DELETE ON {} TO {}").format(
            sql.SQL(", ").join(sql.Identifier(SCHEMA, table) for table in _TABLES if table != "events"), office),
        sql.SQL("GRANT INSERT ON {}, {} TO {}").format(
            sql.Identifier(SCHEMA, "events"), sql.Identifier(SCHEMA, "notes"), unit),
        sql.SQL("GRANT INSERT ON {} TO {}").format(sql.Identifier(SCHEMA, "events"), office),
        sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, office),
        sql.SQL("GRANT UPDATE (status, updated_at) ON {}, {} TO {}").format(
            sql.Identifier(SCHEMA, "tasks"), sql.Identifier(SCHEMA, "assignments"), unit),
        sql.SQL("GRANT UPDATE (retracted_at, retracted_by) ON {} TO {}").format(sql.Identifier(SCHEMA, "notes"), unit),
    ]
    # Only the ledger's roles may connect at all: CONNECT is PUBLIC's by default, and any role
    # on the server could otherwise take the write lock or hold connections. Only the database's
    # owner may change that; a ledger owner who is not gets the rest, and `check` says so.
    if _owns_database(conn):
        database_name = sql.Identifier(database)
        grants += [sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(database_name),
                   sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(database_name, office, unit)]
    for grant in grants:
        conn.execute(grant)
    for table in _SECURED:
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(sql.Identifier(SCHEMA, table)))
    for table, name, command, kind, using, check in _POLICIES:
        target = sql.Identifier(SCHEMA, table)
        conn.execute(sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(sql.Identifier(name), target))
        parts = [sql.SQL("CREATE POLICY {} ON {} FOR {} TO {}").format(
            sql.Identifier(name), target, sql.SQL(command), office if kind == "office" else unit)]
        if using is not None:
            parts.append(sql.SQL("USING ({})").format(sql.SQL(using.format(s=SCHEMA))))
        if check is not None:
            parts.append(sql.SQL("WITH CHECK ({})").format(sql.SQL(check.format(s=SCHEMA))))
        conn.execute(sql.SQL(" ").join(parts))
    return wanted


# The privileges `init` grants, as `check` looks for them: (role kind, table, privilege, columns).
_GRANTED: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    *((kind, table, "SELECT", ()) for kind in ("office", "unit") for table in (*_TABLES, "migrations", "team_roles",
                                                                              "unit_logins")),
    *(("office", table, privilege, ()) for table in _TABLES if table != "events"
      for privilege in ("INSERT", "UPDATE", "DELETE")),
    ("office", "events", "INSERT", ()),
    ("unit", "events", "INSERT", ()),
    ("unit", "notes", "INSERT", ()),
    ("unit", "tasks", "UPDATE", ("status", "updated_at")),
    ("unit", "assignments", "UPDATE", ("status", "updated_at")),
    ("unit", "notes", "UPDATE", ("retracted_at", "retracted_by")),
)
_FIX = "表的所有者运行 gongkai server init 可以补上"


def problems(conn: Connection) -> list[str]:
    """What `init` made that is missing or switched off, for `check`: row-level security on each
    secured table, each policy (its command and role), and each grant to the two group roles.
    Nothing for a ledger `server init` never ran on: one account needs none of it."""
    team = roles(conn)
    if team is None:
        return []
    role = {"office": team.office, "unit": team.unit}
    tables: dict[str, bool] = dict(conn.execute(
        "SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = to_regnamespace(%s) AND relkind = 'r'",
        (SCHEMA,),
    ).fetchall())
    found = [f"表 {table} 缺失（{_FIX}）" for table in ("unit_logins",) if table not in tables]
    if conn.execute("SELECT has_database_privilege('public', current_database(), 'CONNECT')").fetchone() == (True,):
        found.append("数据库的 CONNECT 权限仍授予所有角色（PUBLIC），服务器上任何账号都能连接并占用写锁"
                     "（数据库的所有者运行 gongkai server init 可以收回）")
    found += [f"表 {table} 没有启用行级安全（row level security），各单位的账号不再受限（{_FIX}）"
              for table in _SECURED if table in tables and not tables[table]]
    policies = {(table, name): (command, list(to)) for table, name, command, to in conn.execute(
        "SELECT tablename, policyname, cmd, roles FROM pg_policies WHERE schemaname = %s", (SCHEMA,)
    )}
    found += [f"表 {table} 的行级安全策略 {name} 缺失或已被改动（{_FIX}）"
              for table, name, command, kind, _, _ in _POLICIES
              if policies.get((table, name)) != (command, [role[kind]])]
    found += [f"角色 {name} 没有模式 {SCHEMA} 的 USAGE 权限（{_FIX}）" for name in team
              if conn.execute("SELECT has_schema_privilege(%s, %s, 'USAGE')", (name, SCHEMA)).fetchone() != (True,)]
    for kind, table, privilege, columns in _GRANTED:
        if table not in tables:
            continue
        name = f"{SCHEMA}.{table}"
        for column in columns or (None,):
            if column is None:
                row = conn.execute("SELECT has_table_privilege(%s, %s, %s)", (role[kind], name, privilege)).fetchone()
                what = f"表 {table} 的 {privilege} 权限"
            else:
                row = conn.execute(
                    "SELECT has_column_privilege(%s, %s, %s, %s)", (role[kind], name, column, privilege)
                ).fetchone()
                what = f"表 {table} 的列 {column} 的 {privilege} 权限"
            if row != (True,):
                found.append(f"角色 {role[kind]} 没有{what}（{_FIX}）")
    return found


# What a unit's login may hold of the server (`server grant`): a statement runs at most this long,
# a transaction left open is ended after the idle time it is granted with, and it has this many
# sessions at most, so that one clerk's psql can neither stall the others' writes nor take
# every connection.
UNIT_STATEMENT_TIMEOUT_S = 60
UNIT_CONNECTION_LIMIT = 10


def _limit(conn: Connection, user: str, idle_timeout: float) -> None:
    login = sql.Identifier(user)
    conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(login, sql.Literal(UNIT_CONNECTION_LIMIT)))
    # idle_session_timeout too: a lock taken outside a transaction (pg_advisory_lock, which any
    # login may call) is the session's, and only ending the idle session lets it go.
    for setting, seconds in (("statement_timeout", UNIT_STATEMENT_TIMEOUT_S),
                             ("idle_in_transaction_session_timeout", idle_timeout),
                             ("idle_session_timeout", idle_timeout)):
        if conn.execute("SELECT 1 FROM pg_settings WHERE name = %s", (setting,)).fetchone() is None:
            continue  # idle_session_timeout is PostgreSQL 14's
        conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(
            login, sql.Identifier(setting), sql.Literal(f"{max(1, round(seconds * 1000))}ms")))


def grant_unit(conn: Connection, unit: str, user: str, *, idle_timeout: float) -> str | None:
    """Map the login role `user` to `unit`, within the unit limits above; the unit it was mapped
    to before, if another."""
    team = _ready(conn)
    _require_login(conn, user)
    if _member(conn, user, team.office):
        raise AlreadyOther(user, None)
    row = conn.execute(f"SELECT unit FROM {SCHEMA}.unit_logins WHERE login = %s", (user,)).fetchone()
    conn.execute(
        f"""INSERT INTO {SCHEMA}.unit_logins (login, unit) VALUES (%s, %s)
            ON CONFLICT (login) DO UPDATE SET unit = excluded.unit""",
        (user, unit),
    )
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(team.unit), sql.Identifier(user)))
    _limit(conn, user, idle_timeout)
    return row[0] if row and row[0] != unit else None


def grant_office(conn: Connection, user: str) -> None:
    team = _ready(conn)
    _require_login(conn, user)
    row = conn.execute(f"SELECT unit FROM {SCHEMA}.unit_logins WHERE login = %s", (user,)).fetchone()
    if row is not None:
        raise AlreadyOther(user, row[0])
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(team.office), sql.Identifier(user)))


def revoke(conn: Connection, user: str) -> str | None:
    """Take the ledger's roles and unit away from `user`; what it was (a unit, 办公室), None if nothing."""
    team = _ready(conn)
    row = conn.execute(f"DELETE FROM {SCHEMA}.unit_logins WHERE login = %s RETURNING unit", (user,)).fetchone()
    was = row[0] if row else None
    if was is not None and conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone():
        # What `grant` set for a unit's login, taken back with it.
        login = sql.Identifier(user)
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(login))
        for setting in ("statement_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout"):
            if conn.execute("SELECT 1 FROM pg_settings WHERE name = %s", (setting,)).fetchone() is None:
                continue
            conn.execute(sql.SQL("ALTER ROLE {} RESET {}").format(login, sql.Identifier(setting)))
    for role in team:
        if _member(conn, user, role):
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(role), sql.Identifier(user)))
            if role == team.office:
                was = "办公室"
    return was


def unit_logins(conn: Connection) -> list[tuple[str, str]]:
    """(login, unit) of every unit login, for `server grant`'s report."""
    return [(user, unit) for user, unit in conn.execute(
        f'SELECT login, unit FROM {SCHEMA}.unit_logins ORDER BY unit COLLATE "C", login'
    )]


def _ready(conn: Connection) -> Roles:
    _require_owner(conn)
    team = roles(conn)
    if team is None:
        raise NoTeam()
    return team


def _require_owner(conn: Connection) -> None:
    row = conn.execute(
        """SELECT pg_has_role(current_user, c.relowner, 'USAGE'), current_user
           FROM pg_class c WHERE c.oid = to_regclass(%s)""",
        (f"{SCHEMA}.plans",),
    ).fetchone()
    if row is None or not row[0]:
        raise NotOwner(row[1] if row else "")


def _owns_database(conn: Connection) -> bool:
    return conn.execute(
        "SELECT pg_has_role(current_user, datdba, 'USAGE') FROM pg_database WHERE datname = current_database()"
    ).fetchone() == (True,)


def _require_login(conn: Connection, user: str) -> None:
    row = conn.execute("SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
                       (user,)).fetchone()
    if row is None:
        raise BadLogin(user, "missing")
    if not row[0]:
        raise BadLogin(user, "nologin")
    if row[1]:
        raise BadLogin(user, "superuser")
    if row[2]:
        raise BadLogin(user, "bypassrls")


def _member(conn: Connection, user: str, role: str) -> bool:
    return conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_auth_members m
                          JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
                          WHERE r.rolname = %s AND u.rolname = %s)""",
        (role, user),
    ).fetchone() == (True,)
