"""Queries compiled once per shape, their changing values bound on each run (issue 22's meeting list).

Compiling the ORM's conditions into SQL was a quarter of a meeting list request, though each caller's conditions
have the same few shapes (a student's, a teacher's, staff's, with or without a filter): only the values change, the
user, ``now``, a filter's. A :class:`Slot` stands in a condition for such a value, so the conditions of every request
of one shape are equal (``Q`` compares by what it holds) and :func:`compiled` compiles them once per process; each
run binds its own values (:meth:`Compiled.bind`). The rules stay the ORM's, written once: a class's own policy, a
state, a grace are still constants of the conditions, so a new policy version is a new shape, compiled anew.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable
from typing import NamedTuple

from django.db import connection
from django.db.models import Expression

from core.rows import plannable, prepared_cursor


class Slot(Expression):
    """The value ``name`` of each run (``values[name]`` in :meth:`Compiled.bind`), plus ``offset`` for a time: a
    condition's ``now - grace`` is ``Slot("now", DateTimeField()) - grace``, the same SQL as a bound time. Its
    ``output_field`` prepares the value for the database as the column's own field would."""

    def __init__(self, name: str, output_field, offset: dt.timedelta = dt.timedelta(0)):
        super().__init__(output_field=output_field)
        self.name, self.offset = name, offset

    @property
    def identity(self):
        # What a condition compares: the name, the kind of value and the offset (Expression's own identity inspects
        # the constructor's signature, 20 µs a slot a request).
        return (Slot, self.name, type(self.output_field), self.offset)

    def __sub__(self, other):
        if isinstance(other, dt.timedelta):
            return Slot(self.name, self.output_field, self.offset - other)
        return super().__sub__(other)

    def as_sql(self, compiler, connection):
        return "%s", [self]

    def value(self, values: dict):
        value = values[self.name]
        if self.offset:
            value += self.offset
        return self.output_field.get_db_prep_value(value, connection)


class Compiled(NamedTuple):
    """A statement's SQL and its parameters, some of them :class:`Slot`\\ s."""

    sql: str
    params: tuple

    def bind(self, values: dict) -> list:
        """The parameters of one run: each slot's value from ``values``, the constants as they were compiled."""
        return [param.value(values) if isinstance(param, Slot) else param for param in self.params]


# Kinds of caller times filters times pages, for each policy in force: a few dozen in a school. A shape made from
# a value that is not a slot (a caller's own filter) would grow the cache: past the bound the oldest is forgotten.
MAX_SHAPES = 256
_compiled: dict[Hashable, Compiled] = {}
_lock = threading.Lock()
# The tests turn it on (tests/conftest.py): every statement found is compiled again and must be the same, so that a
# shape that left out something deciding the SQL fails whichever test meets it, not a school in production.
CHECKED = False


class ShapeMismatch(AssertionError):
    """A shape found compiled, whose conditions now compile to another statement (``CHECKED``)."""


def compiled(shape: Hashable, compile_sql: Callable[[], tuple[str, list]]) -> Compiled:
    """The statement of ``shape`` (conditions with slots, and whatever else decides the SQL), made by
    ``compile_sql()`` the first time this process meets the shape. Per connection vendor: one process, one
    database."""
    key = (connection.vendor, shape)
    found = _compiled.get(key)
    if found is None:
        sql, params = compile_sql()
        found = Compiled(sql, tuple(params))
        with _lock:
            while len(_compiled) >= MAX_SHAPES:
                del _compiled[next(iter(_compiled))]
            _compiled[key] = found
    elif CHECKED:
        sql, params = compile_sql()
        if Compiled(sql, tuple(params)) != found:
            raise ShapeMismatch(f"{shape!r} was compiled as\n{found}\nand is now\n{(sql, tuple(params))}")
    return found


def first_row(shape: Hashable, query: Callable, values: dict) -> tuple | None:
    """The first row of ``query()`` (a queryset whose conditions have slots), compiled once per ``shape`` and run
    prepared with ``values``: a lookup by key that runs on every request (the join API's meeting and seat)."""
    statement = compiled(shape, lambda: query().query.sql_with_params())
    with prepared_cursor() as cursor:
        cursor.execute(*plannable(statement.sql, statement.bind(values)))
        return cursor.fetchone()


def clear() -> None:
    """Forget every compiled statement (tests)."""
    with _lock:
        _compiled.clear()
