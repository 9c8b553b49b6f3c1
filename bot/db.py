"""One way to open the project's SQL databases: SQLAlchemy engines for SQLite and PostgreSQL.

The platform data (:mod:`bot.platform.db`), the handoff store (:mod:`bot.handoff.store`),
the console's view of Rasa's events (:mod:`bot.handoff.events`) and the embedded
tracker store (:mod:`bot.stores`) all open their database here, so every SQLite file
behaves the same way:

- **write-ahead logging** (``journal_mode=WAL``): readers never block the writer, so the
  console reads while Rasa, the action server or an import writes;
- ``synchronous=NORMAL``: safe with WAL (the file is consistent after any crash); a
  power cut may roll back the last commits, never corrupt the file. Every database here
  accepts that: the tracker store loses at most the last turns, the console's transcript
  copy is re-read from the tracker store (its position rolls back with it), and an import
  is one transaction that can be run again;
- a **busy timeout** (:data:`BUSY_TIMEOUT_S`), because several processes write the same
  file: a writer waits for the lock instead of failing at once;
- **foreign keys enforced** (SQLite ignores them unless asked), so SQLite and PostgreSQL
  reject the same bad data;
- files created **owner-only**: the database 0600 and any folder created for it 0700,
  because they hold password hashes and transcripts. SQLite gives its ``-wal`` and
  ``-shm`` files the mode of the database file.

PostgreSQL URLs get a plain engine that checks a pooled connection before using it
(``pool_pre_ping``), so a restarted server costs one retry, not an error.
"""
from __future__ import annotations

import fcntl
import functools
import os
import stat
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, TypeVar, Union

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

#: How long a SQLite writer waits for another process's write lock before failing.
BUSY_TIMEOUT_S = 30

#: Transaction start modes a caller may ask for (see :func:`create_engine`).
BEGIN_MODES = ("DEFERRED", "IMMEDIATE")

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def is_sqlite(url: Union[str, URL]) -> bool:
    """Whether ``url`` names a SQLite database."""
    return sa.engine.make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: Union[str, URL]) -> Optional[Path]:
    """The file of a SQLite URL, or None for an in-memory database or a ``file:`` URI."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def private_directory(path: Path) -> None:
    """Create ``path`` and its missing parents owner-only (0700).

    Folders that exist already are left as they are: they may be shared on purpose."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:  # another process created it meanwhile
            continue
        directory.chmod(DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the owner-only file ``path`` (created if missing), so
    that processes doing the same work at once (a training, a cache build) take turns."""
    with open(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def replace_whole(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``target`` through ``write`` into an owner-only temporary file beside it, then
    rename it into place: no reader (another process mapping or copying it) sees half a file."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


def prepare_sqlite_file(path: Path) -> None:
    """Create a SQLite database file owner-only before SQLite opens it.

    The folder is created 0700 when missing; the file is created 0600, and an existing
    file of ours (with its ``-wal``/``-shm`` companions) loses group and other access.
    """
    private_directory(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        pass
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            info = candidate.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            candidate.chmod(stat.S_IMODE(info.st_mode) & 0o700)


def tune_sqlite(
    engine: Engine,
    *,
    read_only: bool = False,
    foreign_keys: bool = True,
    begin: Optional[str] = None,
) -> None:
    """Apply the project's SQLite settings to every new connection of ``engine``.

    For engines created elsewhere (Rasa's tracker store); :func:`create_engine` calls it.
    ``read_only`` leaves the journal mode alone and refuses writes (``query_only``): for
    reading another program's database. ``begin`` (``"DEFERRED"`` or ``"IMMEDIATE"``)
    makes SQLAlchemy's transactions start with that ``BEGIN`` instead of the driver's
    own handling, which opens a transaction only before the first write.
    ``"IMMEDIATE"`` takes the write lock at once, so two processes never both read and
    then both try to upgrade to a write lock (which SQLite refuses without waiting).
    """
    if begin is not None and begin not in BEGIN_MODES:
        raise ValueError(f"begin must be one of {', '.join(BEGIN_MODES)}, not {begin!r}")

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if begin is not None:
            dbapi_connection.isolation_level = None  # the "begin" listener issues BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    sa.event.listen(engine, "connect", on_connect)
    if begin is not None:

        statement = f"BEGIN {begin}"

        def on_begin(connection: sa.engine.Connection) -> None:
            # On the driver's connection: SQLAlchemy's execution path would cost more
            # than the BEGIN itself, once per transaction of every store.
            try:
                connection.connection.driver_connection.execute(statement).close()
            except BaseException as error:  # raised as SQLAlchemy's (e.g. a lock never freed)
                connection._handle_dbapi_exception(error, statement, (), None, None)
                raise

        sa.event.listen(engine, "begin", on_begin)


def create_engine(
    url: Union[str, URL],
    *,
    read_only: bool = False,
    foreign_keys: bool = True,
    begin: Optional[str] = None,
    **options: Any,
) -> Engine:
    """An engine for ``url`` set up as described in this module.

    SQLite: the file is prepared owner-only and :func:`tune_sqlite` applied (see there
    for ``read_only``, ``foreign_keys`` and ``begin``); connections may move between
    threads (``asyncio.to_thread``). PostgreSQL: ``pool_pre_ping``; the SQLite
    arguments do not apply. ``options`` go to :func:`sqlalchemy.create_engine`
    (e.g. ``future=True``).
    """
    if not is_sqlite(url):
        options.setdefault("pool_pre_ping", True)
        return sa.create_engine(url, **options)
    path = sqlite_file(url)
    if path is not None:
        prepare_sqlite_file(path)
    connect_args = {"check_same_thread": False, **options.pop("connect_args", {})}
    if path is not None:
        # Keep connections open (SQLAlchemy 1.4 opens and closes a SQLite file for every
        # transaction, re-running the set-up above each time: a sixth of a busy server's
        # CPU in the profiles, BENCHMARKS.md).
        options.setdefault("poolclass", sa.pool.QueuePool)
        options.setdefault("pool_size", 4)
        options.setdefault("max_overflow", 8)
    engine = sa.create_engine(url, connect_args=connect_args, **options)
    tune_sqlite(engine, read_only=read_only, foreign_keys=foreign_keys, begin=begin)
    return engine


#: Key of the PostgreSQL advisory lock held while a process creates tables.
_SCHEMA_LOCK_KEY = 0x63796274  # "cybt"


def create_tables(engine: Engine, metadata: sa.MetaData) -> None:
    """Create ``metadata``'s missing tables, one process at a time.

    Several processes (gateways and action servers, and their replicas) open the same
    database at start; PostgreSQL would let two of them create the same table at once
    and fail one. A transaction-wide advisory lock serialises them; SQLite's own write
    lock (``BEGIN IMMEDIATE`` engines) does the same there.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        metadata.create_all(conn)


#: A statement compiled for one dialect: SQL, the values it carries, bind processors by
#: name, and the bind names in order (None: the driver takes them by name).
_Compiled = Tuple[str, Dict[str, Any], Dict[str, Callable[[Any], Any]], Optional[List[str]]]
_Read = TypeVar("_Read")


class DirectStatement:
    """A Core statement compiled once per dialect and run on the DB-API cursor of a
    SQLAlchemy connection, inside that connection's transaction; errors are raised as
    SQLAlchemy raises them.

    For the few statements the console feed runs for every message: SQLAlchemy's own
    execution path (cache look-up, events, result objects) costs several times what
    SQLite spends on such a statement (BENCHMARKS.md). Values are bound with the
    statement's own type processors; rows come back as dicts keyed by column, with
    ``Boolean`` columns as ``bool`` on SQLite too and no other result conversion (for
    plain text and number columns). Writes need a transaction begun on the connection.
    ``before_cursor_execute`` listeners see these statements as they see SQLAlchemy's
    own (the other events do not).
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        selected = getattr(statement, "selected_columns", None)
        #: Result column names, and which of them are booleans.
        self._names: List[str] = [column.key for column in selected] if selected is not None else []
        self._booleans = [isinstance(column.type, sa.Boolean) for column in selected] if selected is not None else []
        self._compiled: Dict[type, _Compiled] = {}  # by dialect class (name and driver)

    def _compile(self, dialect: Any) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        if (
            getattr(compiled, "insert_prefetch", None)
            or getattr(compiled, "update_prefetch", None)
            or getattr(compiled, "post_compile_params", None)
            or getattr(compiled, "literal_execute_params", None)
            or getattr(compiled, "escaped_bind_names", None)
        ):
            # Python-side column defaults, IN lists and renamed binds need SQLAlchemy's
            # own execution: such statements are not for this class.
            raise ValueError(f"statement needs SQLAlchemy's execution: {compiled.string}")
        # Values the statement carries itself (literals compared against), by bind name.
        defaults = compiled.construct_params(_check=False)
        processors = dict(compiled._bind_processors)
        order = list(compiled.positiontup) if compiled.positional else None
        entry = (compiled.string, defaults, processors, order)
        self._compiled[type(dialect)] = entry
        return entry

    def _execute(self, conn: Connection, params: Mapping[str, Any], read: Callable[[Any], _Read]) -> _Read:
        """Execute with ``params`` (by bind name) and ``read`` the cursor."""
        compiled = self._compiled.get(type(conn.dialect)) or self._compile(conn.dialect)
        sql, defaults, processors, order = compiled
        values = {**defaults, **params}
        for name, process in processors.items():
            if values.get(name) is not None:
                values[name] = process(values[name])
        arguments: Any = [values[name] for name in order] if order is not None else values
        cursor = conn.connection.cursor()
        try:
            if conn._has_events or conn.engine._has_events:  # statement listeners see these too
                for listener in conn.dispatch.before_cursor_execute:
                    sql, arguments = listener(conn, cursor, sql, arguments, None, False)
            cursor.execute(sql, arguments)
            return read(cursor)
        except BaseException as error:
            # Raised as SQLAlchemy raises it (callers catch sqlalchemy.exc errors), and a
            # lost connection is invalidated so that the pool replaces it.
            conn._handle_dbapi_exception(error, sql, arguments, cursor, None)
            raise
        finally:
            cursor.close()

    def rowcount(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute a write in ``conn``'s transaction; how many rows it changed."""
        _require_transaction(conn)
        return self._execute(conn, params, lambda cursor: int(cursor.rowcount))

    def inserted_id(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute an INSERT; the new row's primary key (from ``RETURNING`` where the
        dialect compiles it, PostgreSQL, else the driver's ``lastrowid``)."""
        _require_transaction(conn)
        return self._execute(
            conn, params, lambda cursor: int(cursor.fetchone()[0] if cursor.description else cursor.lastrowid)
        )

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        """Execute a query; its first row as a dict, None when there is none."""
        row = self._execute(conn, params, lambda cursor: cursor.fetchone())
        if row is None:
            return None
        return {
            name: bool(value) if boolean and value is not None else value
            for name, value, boolean in zip(self._names, row, self._booleans, strict=True)
        }


def _require_transaction(conn: Connection) -> None:
    # SQLAlchemy does not see a direct write start a transaction: outside one begun on
    # ``conn`` it would be committed at once or rolled back unseen, by driver.
    if not conn.in_transaction():
        raise RuntimeError("a direct write needs a transaction begun on its connection (engine.begin())")


@functools.lru_cache(maxsize=None)
def insert_unless_stored(table: sa.Table, columns: Tuple[str, ...]) -> DirectStatement:
    """INSERT of ``columns`` (bound by name) into ``table`` that does nothing when a row
    with the same unique key is stored already: a concurrent insert by another process,
    a redelivered event: its :meth:`DirectStatement.rowcount` says whether it inserted.

    Plain SQL, the same for SQLite (3.24+) and PostgreSQL, built once: SQLAlchemy 1.4
    compiles its dialects' ``on_conflict_do_nothing()`` anew on every execution; run
    directly (:class:`DirectStatement`), as the console feed runs it for most events."""
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    return DirectStatement(
        sa.text(f"INSERT INTO {table.name} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING").bindparams(
            *(sa.bindparam(name, type_=table.c[name].type) for name in columns)
        )
    )
