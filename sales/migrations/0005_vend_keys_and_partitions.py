"""Vends become a table range-partitioned by day on PostgreSQL (sales.partitions), and
their idempotency moves to a key table of its own.

PostgreSQL wants the partition key in every unique constraint, and (machine, transaction
id) has no time in it: a device's retried vend may carry any timestamp. So the constraint
goes to `sales_vendkey` (machine, transaction id, the vend's time), filled from the vends
already stored, and the vends table is then converted without losing a row
(vendhub.partition_conversion; the primary key becomes (id, timestamp)). Reversible.
SQLite gets the key table and keeps a plain vends table.
"""

import django.db.models.deletion
from django.db import migrations, models

from sales.partitions import VENDS
from vendhub.partition_conversion import converting


def keys_of_stored_vends(apps, schema_editor):
    qn = schema_editor.connection.ops.quote_name
    schema_editor.execute(
        f"INSERT INTO {qn('sales_vendkey')} ({qn('machine_id')}, {qn('transaction_id')}, "
        f"{qn('timestamp')}) SELECT {qn('machine_id')}, {qn('transaction_id')}, "
        f"{qn('timestamp')} FROM {qn('sales_vend')}")


class Migration(migrations.Migration):

    dependencies = [
        ('machines', '0007_cash_collection'),
        ('sales', '0004_narrow_daily_rollups'),
    ]

    operations = [
        migrations.CreateModel(
            name='VendKey',
            fields=[
                ('pk', models.CompositePrimaryKey('machine', 'transaction_id', blank=True, editable=False, primary_key=True, serialize=False)),
                ('machine', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='machines.machine')),
                ('transaction_id', models.CharField(max_length=64, verbose_name='transaction id')),
                ('timestamp', models.DateTimeField(db_index=True, verbose_name='time')),
            ],
            options={
                'verbose_name': 'vend key',
                'verbose_name_plural': 'vend keys',
            },
        ),
        # Backwards the keys go with their table: nothing to undo.
        migrations.RunPython(keys_of_stored_vends, migrations.RunPython.noop, elidable=False),
        migrations.RemoveConstraint(
            model_name='vend',
            name='unique_vend_transaction_per_machine',
        ),
        converting(VENDS),
    ]
