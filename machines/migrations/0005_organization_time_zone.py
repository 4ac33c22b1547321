from django.db import migrations, models

import machines.models


class Migration(migrations.Migration):

    dependencies = [
        ("machines", "0004_task_keyed_texts"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="time_zone",
            field=models.CharField(
                default=machines.models.default_time_zone,
                help_text="IANA name, e.g. Asia/Tashkent: times are shown in it.",
                max_length=64,
                validators=[machines.models.validate_time_zone],
                verbose_name="time zone",
            ),
        ),
    ]
