"""The database cache's table (settings.CACHES when REDIS_URL is unset), made by migrate so that a fresh clone, the
tests and CI have it without a separate ``createcachetable`` step. It is made even when Redis is the cache: a later
switch back to the database then finds it."""

from django.core.management import call_command
from django.db import migrations

CACHE_TABLE = "django_cache"


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", CACHE_TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("classroom", "0002_idempotency_keys")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
