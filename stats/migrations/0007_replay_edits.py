"""Dead letters remember the fixed value an operator replayed in place of the original
("Fix and replay", issue 11)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("stats", "0006_retention")]

    operations = [
        migrations.AddField(
            model_name="deadletter",
            name="fixed_value",
            field=models.BinaryField(
                help_text="The value an operator fixed and replayed instead of `value`.",
                null=True,
            ),
        ),
    ]
