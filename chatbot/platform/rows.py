"""Model instances from a hand-written statement's row, as the ORM would build them.

For the few statements on the hot path that are written out rather than composed with the
ORM (composing and compiling a query with its joins costs several times running it): the
columns of a model under a table alias, each with the converters the ORM applies when it
reads that column, are worked out once per process, then each row is turned into
instances without any query building.
"""

import functools

from django.db import connection


def column_with_converters(field, alias: str) -> tuple:
    """(the field's column under `alias`, the converters the ORM applies when reading it)."""
    col = field.get_col(alias)
    return col, tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))


def converted(columns: tuple, values) -> list:
    """A row's raw values through each column's converters (`column_with_converters`)."""
    out = []
    for (col, converters), value in zip(columns, values, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        out.append(value)
    return out


@functools.cache
def model_columns(model, alias: str) -> tuple:
    """(column, its converters) for each concrete field of `model`, read as `alias`."""
    return tuple(column_with_converters(field, alias) for field in model._meta.concrete_fields)


def select_list(*models_and_aliases: tuple) -> str:
    """`"alias"."column", …` for every column of each (model, alias), in that order."""
    quote = connection.ops.quote_name
    return ", ".join(
        f"{quote(alias)}.{quote(col.target.column)}"
        for model, alias in models_and_aliases
        for col, _ in model_columns(model, alias)
    )


def instances_from_row(row, *models_and_aliases: tuple) -> tuple[list, int]:
    """One instance per (model, alias) from consecutive slices of `row` (None where a left
    join found nothing: the slice's primary key is NULL), and where the slices ended."""
    instances, offset = [], 0
    for model, alias in models_and_aliases:
        columns = model_columns(model, alias)
        values = row[offset : offset + len(columns)]
        offset += len(columns)
        instances.append(None if values[0] is None else _instance(model, columns, values))
    return instances, offset


def _instance(model, columns: tuple, values):
    names = [col.target.attname for col, _ in columns]
    return model.from_db(connection.alias, names, converted(columns, values))
