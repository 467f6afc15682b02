"""Model rows read by one hand-written statement, built as the ORM builds them (issue 22's hot paths).

Compiling a query was a third of a meeting list request and of a join link's click. Where one statement replaces
several queries, or a fixed one runs thousands of times a minute, :class:`Columns` gives its SELECT list for some of
a model's columns and turns each row's slice back into the model instance the ORM would have made: the backend's
and the field's converters applied (SQLite's times arrive as text), the other columns deferred (read if ever asked
for, by a query of their own: the hot paths' query-count tests notice).
"""

from __future__ import annotations

from django.db import connection


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

    @property
    def table(self) -> str:
        """The model's table, quoted for the FROM clause."""
        return connection.ops.quote_name(self.model._meta.db_table)

    def sql(self, alias: str) -> str:
        """The SELECT list: ``alias."column", ...``."""
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)

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
        return self.model.from_db(connection.alias, self.names, values)


def split(row, columns: list[Columns]) -> tuple[list, tuple]:
    """``row`` as an instance of each ``columns`` in turn (None for a record a LEFT JOIN did not find: its first
    column, the id, is NULL), and the values after them."""
    instances, at = [], 0
    for each in columns:
        instances.append(None if row[at] is None else each.instance(row, at))
        at += each.width
    return instances, tuple(row[at:])


def fetch_one(sql: str, params, columns: list[Columns]) -> tuple[list, tuple] | None:
    """The one row of ``sql`` (by a unique key), :func:`split`; None if there is none."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else split(row, columns)
