"""Model rows read by one hand-written statement, built as the ORM builds them (issue 22's hot paths).

Compiling a query was a third of a meeting list request and of a join link's click. Where one statement replaces
several queries, or a fixed one runs thousands of times a minute, :class:`Columns` gives its SELECT list for some of
a model's columns and turns each row's slice back into the model instance the ORM would have made: the backend's
and the field's converters applied (SQLite's times arrive as text), the other columns deferred (read if ever asked
for, by a query of their own: the hot paths' query-count tests notice).

On PostgreSQL those statements are also prepared (:func:`prepared_cursor`): planning them cost more than running
them (the click's 0.42 ms against 0.11 ms prepared; the list's 1.2 ms of 1.8 ms).
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import DEFERRED


class Columns:
    """``names`` (attnames) of ``model``, in the model's field order, as ``Model.from_db`` takes them; the id
    first (:func:`split` reads a missing record by it)."""

    def __init__(self, model, names):
        self.model = model
        wanted = set(names)
        self.fields = [field for field in model._meta.concrete_fields if field.attname in wanted]
        missing = wanted - {field.attname for field in self.fields}
        if missing:
            raise ValueError(f"{model.__name__} has no column {', '.join(sorted(missing))}")
        self.names = tuple(field.attname for field in self.fields)
        if self.fields[0] is not model._meta.pk:
            raise ValueError(f"{model.__name__}: read its id too")
        self.width = len(self.fields)
        self._converters = None
        # Where each column stands among all of the model's: Model.from_db, given fewer values than fields, finds each
        # field's place by name for every row (a fifth of making a list page's instances).
        concrete = model._meta.concrete_fields
        self._places = None if self.width == len(concrete) else [concrete.index(field) for field in self.fields]
        self._every = len(concrete)
        self._sql: dict[tuple[str, str], str] = {}

    @property
    def table(self) -> str:
        """The model's table, quoted for the FROM clause."""
        return connection.ops.quote_name(self.model._meta.db_table)

    def sql(self, alias: str) -> str:
        """The SELECT list: ``alias."column", ...``."""
        key = (connection.vendor, alias)
        if key not in self._sql:  # (kept: the hot paths write their statement out on every request)
            quote = connection.ops.quote_name
            self._sql[key] = ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)
        return self._sql[key]

    def converters(self) -> list:
        if self._converters is None:  # (the backend is known once the settings are: on first use)
            table = self.model._meta.db_table
            columns = [field.get_col(table) for field in self.fields]
            self._converters = [
                (n, convert, column)
                for n, (field, column) in enumerate(zip(self.fields, columns, strict=True))
                for convert in connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            ]
        return self._converters

    def instance(self, row, start: int = 0):
        """The model instance of ``row[start : start + width]``."""
        values = list(row[start : start + self.width])
        for n, convert, expression in self.converters():
            values[n] = convert(values[n], expression, connection)
        if self._places is not None:
            every = [DEFERRED] * self._every
            for place, value in zip(self._places, values, strict=True):
                every[place] = value
            values = every
        return self.model.from_db(connection.alias, self.names, values)


def split(row, columns: list[Columns], made: dict | None = None) -> tuple[list, tuple]:
    """``row`` as an instance of each ``columns`` in turn (None for a record a LEFT JOIN did not find: its first
    column, the id, is NULL), and the values after them. With ``made`` (a dict kept across the rows of one read), a
    record already made for an earlier row is that same instance, as ``prefetch_related`` shares them: a page's
    classes share a few courses and teachers."""
    instances, at = [], 0
    for each in columns:
        key = row[at]
        if key is None:
            instances.append(None)
        elif made is None:
            instances.append(each.instance(row, at))
        else:
            if (each, key) not in made:
                made[each, key] = each.instance(row, at)
            instances.append(made[each, key])
        at += each.width
    return instances, tuple(row[at:])


def fetch_one(sql: str, params, columns: list[Columns]) -> tuple[list, tuple] | None:
    """The one row of ``sql`` (by a unique key), :func:`split`; None if there is none. Prepared on PostgreSQL."""
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else split(row, columns)


class _PreparingCursor(ServerBindingCursor):
    """Binds on the server and prepares every statement at its first run on a connection (psycopg keeps the last
    ``prepared_max`` of them, 100, per connection)."""

    def execute(self, query, params=None, **options):
        return super().execute(query, params, **{**options, "prepare": True})


class _PreparedDebugWrapper(CursorDebugWrapper):
    """The query log's wrapper (DEBUG, assertNumQueries, the profile) of a preparing cursor. Django reads the SQL it
    logs back from a client-binding cursor, and from this one it would read None; it logs the statement with its
    values written in instead, as Django does when it binds on the server itself."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params), params):
            return CursorWrapper.execute(self, sql, params)


def preparing() -> bool:
    """Whether :func:`prepared_cursor` prepares: on PostgreSQL unless ``PREPARED_STATEMENTS`` is off (README,
    "Database connections": a pooler that cannot pass them)."""
    return connection.vendor == "postgresql" and settings.PREPARED_STATEMENTS


@contextlib.contextmanager
def prepared_cursor() -> Iterator:
    """A cursor whose statements are prepared on PostgreSQL, in Django's wrapper (its errors, execute wrappers and
    query log, as any query's); elsewhere Django's own cursor.

    Django's cursors bind on the client, so PostgreSQL parses and plans each query's text anew; with persistent
    connections (CONN_MAX_AGE) a prepared statement is planned once per connection for the hot paths' fixed
    statements. Their parameters are bound on the server, so they must be plain values."""
    with connection.cursor() as cursor:  # the connection made, or the kept one checked, as for any query
        if not preparing():
            yield cursor
            return
        preparing_cursor = _PreparingCursor(connection.connection)
        if connection.queries_logged:
            wrapped = _PreparedDebugWrapper(preparing_cursor, connection)
        else:
            wrapped = connection.make_cursor(preparing_cursor)
        with wrapped:
            yield wrapped


_PLACEHOLDER = re.compile(r"%[%s]")


def plannable(sql: str, params) -> tuple[str, list]:
    """``sql`` with its text parameters written into it, the others still bound, for :func:`prepared_cursor`.

    A prepared statement's generic plan, the one PostgreSQL reuses, cannot use a partial index whose condition names
    a bound value: the ORM binds ``state IN ('scheduled', 'open', 'in_progress')``, the very condition of
    ``meeting_bookable``. Written in, the plan walks that index like the unprepared query did (a list's database
    time: 3.5 ms prepared with the states bound, 2.2 ms written in). Only for statements whose text values are few
    (states, not names): each distinct text is a statement of its own. Unchanged when nothing is prepared."""
    if not preparing():
        return sql, list(params)
    values, bound = iter(params), []

    def write(placeholder: re.Match) -> str:
        if placeholder.group() == "%%":
            return "%%"
        value = next(values)
        if isinstance(value, str):
            return _written(value)
        bound.append(value)
        return "%s"

    return _PLACEHOLDER.sub(write, sql), bound


@functools.lru_cache(maxsize=1024)
def _written(text: str) -> str:
    # Quoted by the driver (the same for every connection of a process: UTF-8, standard strings), then its % doubled:
    # the statement is still formatted with its bound values. Kept: quoting makes a cursor (20 µs), and a list writes
    # in the same few states each time.
    return connection.ops.compose_sql("%s", [text]).replace("%", "%%")
