"""`manage.py prune_vends`: delete vends older than SALES_VEND_RETENTION_DAYS, with their
keys. The daily rollups the reports read are kept.

On PostgreSQL the vends table is partitioned by day (sales.partitions): the days entirely
older than the cutoff are dropped whole, the boundary day is pruned row by row. The keys
(sales.models.VendKey) are narrow rows deleted in batches; ingestion refuses vends older
than the same retention, so none of those vends can be taken again.
"""

from __future__ import annotations

from sales.models import Vend, VendKey
from sales.partitions import VENDS
from vendhub.pruning import PruneCommand


class Command(PruneCommand):
    help = (
        "Delete single vends (and their idempotency keys) before now - --days (default "
        "SALES_VEND_RETENTION_DAYS), in batches so no table is locked for long. The daily "
        "sales rollups are kept."
    )
    table = VENDS
    setting = "SALES_VEND_RETENTION_DAYS"
    rows = "vends"

    def doomed(self, cutoff):
        return [("vends", Vend.objects.filter(timestamp__lt=cutoff)),
                ("vend keys", VendKey.objects.filter(timestamp__lt=cutoff))]
