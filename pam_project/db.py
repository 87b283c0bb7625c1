"""Database helpers shared by the services."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model


def save_unique(instance: Model, field: str) -> None:
    """Save; a uniqueness race lost to a concurrent save becomes the field's error."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise ValidationError({field: "That name is already taken here."}) from None


# Hand-written statements for the Access hot path.
#
# Access runs one grant lookup, one INSERT, one COUNT and one UPDATE on every click, and
# building each through the ORM (query objects, cloning, compiling) cost more than
# PostgreSQL took to answer it: 1.2-3 ms each against 0.1-0.5 ms (docs/benchmarks.md,
# "Access overhead"). The helpers below keep what the ORM guarantees that matters here
# (the model's own columns, each value prepared and converted by its field, as the ORM
# does) and drop the building: the SQL text is made once per model and database.


class Columns:
    """A model's concrete columns, to SELECT in a hand-written statement under `alias`
    and to turn back into an instance, each value through the field's converters (a
    JSONField's text, SQLite's timestamps), as the ORM's compiler would."""

    def __init__(self, model: type[Model], alias: str) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self._cols = [f.get_col(alias) for f in self.fields]
        self._converters: dict[str, list[list]] = {}

    def select(self, connection: BaseDatabaseWrapper) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{quote(self.alias)}.{quote(f.column)}" for f in self.fields)

    def instance(self, row: Sequence, start: int, connection: BaseDatabaseWrapper) -> Model:
        """The instance for row[start : start + len(self.fields)]."""
        converters = self._converters.get(connection.alias)
        if converters is None:
            converters = [
                connection.ops.get_db_converters(col) + col.field.get_db_converters(connection)
                for col in self._cols
            ]
            self._converters[connection.alias] = converters
        values = list(row[start : start + len(self.fields)])
        for i, col in enumerate(self._cols):
            for convert in converters[i]:
                values[i] = convert(values[i], col, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


_insert_sql: dict[tuple[type[Model], str], tuple[str, list]] = {}


def insert(instance: Model, using: str = "default") -> None:
    """INSERT `instance` (a new row, every field holding a Python value) in one
    statement, and set its primary key: Model.save()'s INSERT without its machinery (no
    signals: only for models nothing listens to)."""
    connection = connections[using]
    model = type(instance)
    key = (model, connection.alias)
    if key not in _insert_sql:
        meta = model._meta
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        # The model's own table and columns, quoted; values only ever as parameters.
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
        returning = connection.features.can_return_columns_from_insert
        if returning:
            sql += f" RETURNING {quote(meta.pk.column)}"
        _insert_sql[key] = (sql, fields)
    sql, fields = _insert_sql[key]
    values = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if connection.features.can_return_columns_from_insert:
            pk = cursor.fetchone()[0]
        else:
            pk = connection.ops.last_insert_id(cursor, model._meta.db_table, model._meta.pk.column)
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


def prep(model: type[Model], name: str, value: object, using: str = "default") -> object:
    """`value` as the database takes it for `model`'s field `name` (a timestamp made
    naive UTC text on SQLite, say), for the parameters of a hand-written statement."""
    return model._meta.get_field(name).get_db_prep_save(value, connections[using])
