"""Remove the AdDailyReach rows with zero users that late events left behind before the
recording function learned to delete them (issue 11); such a row counts no one."""

from django.db import migrations


def remove_zero_reach_rows(apps, schema_editor):
    apps.get_model("stats", "AdDailyReach").objects.filter(users=0).delete()


class Migration(migrations.Migration):
    dependencies = [("stats", "0005_ledger_topic_identity")]

    operations = [migrations.RunPython(remove_zero_reach_rows, migrations.RunPython.noop)]
