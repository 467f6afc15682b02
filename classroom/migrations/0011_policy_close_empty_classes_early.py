"""The policy value ``close_empty_classes_early`` (issue 17): every existing version gets it, with the environment's
default (``CLOSE_EMPTY_CLASSES_EARLY``, on unless set), so each version keeps saying every value that applied."""

from django.db import migrations

KEY = "close_empty_classes_early"


def add_the_switch(apps, schema_editor):
    from django.conf import settings

    Policy = apps.get_model("classroom", "Policy")
    for policy in Policy.objects.all():
        if KEY not in policy.values:
            policy.values = {**policy.values, KEY: settings.CLOSE_EMPTY_CLASSES_EARLY}
            policy.save(update_fields=["values"])


def remove_the_switch(apps, schema_editor):
    Policy = apps.get_model("classroom", "Policy")
    for policy in Policy.objects.all():
        if KEY in policy.values:
            policy.values = {key: value for key, value in policy.values.items() if key != KEY}
            policy.overrides = [key for key in policy.overrides if key != KEY]
            policy.save(update_fields=["values", "overrides"])


class Migration(migrations.Migration):
    dependencies = [("classroom", "0010_course_record_classes")]

    operations = [migrations.RunPython(add_the_switch, remove_the_switch)]
