"""Sales: products, versioned planograms, vends from devices and their daily rollups.

Money is an integer number of the organization's currency's smallest unit in use
(`MONEY_UNIT`): for UZS that is the sum itself (the tiyin is out of circulation), so
12 000 sum is stored as 12000, never as a decimal. Prices, unit costs and revenues are
`PositiveBigIntegerField`s: sums never pass through floats.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from machines.models import Ingredient, Machine, Organization, Task
from vendhub.models import BaseModel

#: What one unit of a stored amount is (README "Sales": money units).
MONEY_UNIT = "the smallest unit of the organization's currency in use (UZS: 1 sum)"


class Product(BaseModel):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="products"
    )
    name = models.CharField(_("name"), max_length=200)
    sku = models.CharField(_("SKU"), max_length=64)
    barcode = models.CharField(_("barcode"), max_length=64, blank=True)
    category = models.CharField(_("category"), max_length=100, blank=True)
    unit_cost = models.PositiveBigIntegerField(
        _("unit cost"), default=0, help_text=_("Integer, in the currency's smallest unit "
                                               "in use (UZS: sums).")
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "sku"],
                                    name="unique_product_sku_per_organization"),
            models.UniqueConstraint(fields=["organization", "barcode"],
                                    condition=~Q(barcode=""),
                                    name="unique_product_barcode_per_organization"),
        ]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class Planogram(BaseModel):
    """One version of what a machine sells where, in force from `effective_from` until the
    next version of the same machine. Versions are never edited by the API: a change is a
    new version, so an old audit is read with the planogram that was in force."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="planograms")
    effective_from = models.DateTimeField(_("effective from"), db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["machine", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "effective_from"],
                                    name="unique_planogram_version_per_machine"),
        ]
        verbose_name = _("planogram")
        verbose_name_plural = _("planograms")

    def __str__(self) -> str:
        return f"{self.machine.name} @ {self.effective_from:%Y-%m-%d %H:%M}"


class Selection(BaseModel):
    """A button or slot as the machine reports it ("12", "A3") and what it sells."""

    planogram = models.ForeignKey(Planogram, on_delete=models.CASCADE, related_name="selections")
    code = models.CharField(_("selection code"), max_length=16)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="selections")
    price = models.PositiveBigIntegerField(
        _("price"), help_text=_("Integer, in the currency's smallest unit in use (UZS: sums).")
    )
    capacity = models.PositiveIntegerField(
        _("capacity"), null=True, blank=True, help_text=_("Items a spiral slot holds.")
    )
    par_level = models.PositiveIntegerField(
        _("par level"), null=True, blank=True, help_text=_("Items to fill the slot up to.")
    )

    class Meta:
        ordering = ["planogram", "code"]
        constraints = [
            models.UniqueConstraint(fields=["planogram", "code"],
                                    name="unique_selection_code_per_planogram"),
        ]
        verbose_name = _("selection")
        verbose_name_plural = _("selections")

    def __str__(self) -> str:
        return f"{self.code}: {self.product.name}"

    def clean(self) -> None:
        super().clean()
        errors = {}
        if (self.capacity is not None and self.par_level is not None
                and self.par_level > self.capacity):
            errors["par_level"] = _("The par level cannot exceed the capacity.")
        if (self.planogram_id and self.product_id
                and self.product.organization_id != self.planogram.machine.organization_id):
            errors["product"] = _("Choose a product of the machine's organization.")
        if errors:
            raise ValidationError(errors)


class RecipeItem(BaseModel):
    """Grams of one ingredient a cup of a coffee selection takes from its bunker."""

    selection = models.ForeignKey(Selection, on_delete=models.CASCADE, related_name="recipe")
    ingredient = models.ForeignKey(Ingredient, on_delete=models.PROTECT, related_name="+")
    grams = models.PositiveIntegerField(_("grams per cup"), validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["selection", "ingredient__name"]
        constraints = [
            models.UniqueConstraint(fields=["selection", "ingredient"],
                                    name="unique_recipe_ingredient_per_selection"),
        ]
        verbose_name = _("recipe item")
        verbose_name_plural = _("recipe items")

    def __str__(self) -> str:
        return f"{self.grams} g {self.ingredient.name}"


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("Cash")
    CARD = "card", _("Card")
    #: QR and wallet payments: Payme and Click in Uzbekistan (`Vend.provider` names which).
    MOBILE = "mobile", _("Mobile")


class Vend(BaseModel):
    """One sale a device reported. Idempotent per (machine, transaction id): ingestion
    stores a vend only once it has claimed its `VendKey`.

    On PostgreSQL the table is range-partitioned by UTC day of `timestamp`
    (sales.partitions), so its primary key is (id, timestamp) there, and it can hold no
    unique constraint without the time: the key table holds that one."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="vends")
    transaction_id = models.CharField(_("transaction id"), max_length=64)
    selection = models.CharField(_("selection code"), max_length=16)
    #: The product of the selection in the planogram in force at `timestamp`; None when the
    #: selection was not in it (the sale still counts).
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="vends")
    price = models.PositiveBigIntegerField(_("price paid"))
    payment_method = models.CharField(_("payment method"), max_length=8,
                                      choices=PaymentMethod.choices)
    provider = models.CharField(_("payment provider"), max_length=32, blank=True)
    timestamp = models.DateTimeField(_("time"))

    class Meta:
        ordering = ["-timestamp"]
        indexes = [models.Index(fields=["machine", "timestamp"])]
        verbose_name = _("vend")
        verbose_name_plural = _("vends")

    def __str__(self) -> str:
        return f"{self.machine_id} #{self.transaction_id}"


class VendKey(models.Model):
    """A vend's (machine, transaction id), claimed by ingestion with `INSERT ... ON
    CONFLICT DO NOTHING` before the vend is stored: the idempotency the partitioned vends
    table cannot enforce itself. Narrow (no id, no audit columns): one row per vend ever
    kept. `manage.py prune_vends` deletes the keys of the vends it drops; ingestion refuses
    vends that old (SALES_VEND_RETENTION_DAYS), so a pruned vend cannot come back and be
    counted twice in the rollups."""

    pk = models.CompositePrimaryKey("machine", "transaction_id")
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="+")
    transaction_id = models.CharField(_("transaction id"), max_length=64)
    #: The vend's time: what retention prunes the keys by.
    timestamp = models.DateTimeField(_("time"), db_index=True)

    class Meta:
        verbose_name = _("vend key")
        verbose_name_plural = _("vend keys")

    def __str__(self) -> str:
        return f"{self.machine_id} #{self.transaction_id}"


class DailyFigures(BaseModel):
    """Vends and revenue paid one way on one local day: what every daily rollup holds."""

    payment_method = models.CharField(_("payment method"), max_length=8,
                                      choices=PaymentMethod.choices)
    day = models.DateField(_("day"))
    vends = models.PositiveIntegerField(_("vends"), default=0)
    revenue = models.PositiveBigIntegerField(_("revenue"), default=0)

    class Meta:
        abstract = True


class DailySales(DailyFigures):
    """Vends and revenue of one machine, product and payment method on one local day
    (settings.TIME_ZONE), kept current by vend ingestion: reports read these, not vends."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="daily_sales")
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="daily_sales")
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="daily_sales")

    class Meta:
        ordering = ["-day", "machine"]
        constraints = [
            # Two partial constraints instead of NULLS NOT DISTINCT: SQLite has no such clause.
            models.UniqueConstraint(fields=["machine", "day", "payment_method", "product"],
                                    condition=Q(product__isnull=False),
                                    name="unique_daily_sales_per_product"),
            models.UniqueConstraint(fields=["machine", "day", "payment_method"],
                                    condition=Q(product__isnull=True),
                                    name="unique_daily_sales_without_product"),
        ]
        indexes = [models.Index(fields=["organization", "day"])]
        verbose_name = _("daily sales")
        verbose_name_plural = _("daily sales")

    def __str__(self) -> str:
        return f"{self.day} {self.machine_id} {self.payment_method}"


class DailyMachineSales(DailyFigures):
    """DailySales summed over products: one machine and payment method on one local day.
    Kept by the same writers as DailySales (`sales.rollups`), so the reports by day, machine
    and payment method read a row per machine instead of one per product it sold."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="daily_machine_sales")
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE,
                                related_name="daily_machine_sales")

    class Meta:
        ordering = ["-day", "machine"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "payment_method", "day"],
                                    name="unique_daily_machine_sales"),
        ]
        indexes = [models.Index(fields=["organization", "day"])]
        verbose_name = _("daily sales per machine")
        verbose_name_plural = _("daily sales per machine")

    def __str__(self) -> str:
        return f"{self.day} {self.machine_id} {self.payment_method}"


class DailyProductSales(DailyFigures):
    """DailySales summed over machines: one organization's product and payment method on
    one local day (product None: selections the planogram did not name), for the report
    by product. Kept by the same writers as DailySales (`sales.rollups`)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="daily_product_sales")
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="daily_product_sales")

    class Meta:
        ordering = ["-day", "product"]
        constraints = [
            # Two partial constraints instead of NULLS NOT DISTINCT, as DailySales: SQLite.
            models.UniqueConstraint(fields=["organization", "day", "payment_method", "product"],
                                    condition=Q(product__isnull=False),
                                    name="unique_daily_product_sales"),
            models.UniqueConstraint(fields=["organization", "day", "payment_method"],
                                    condition=Q(product__isnull=True),
                                    name="unique_daily_product_sales_without_product"),
        ]
        indexes = [models.Index(fields=["organization", "day"])]
        verbose_name = _("daily sales per product")
        verbose_name_plural = _("daily sales per product")

    def __str__(self) -> str:
        return f"{self.day} {self.product_id} {self.payment_method}"


class AuditSource(models.TextChoices):
    DEVICE = "device", _("Device")
    ADMIN = "admin", _("Admin")


class AuditRecord(BaseModel):
    """One DEX/EVA-DTS audit as uploaded, with the period it closes (`sales.audits`).

    `period` is the `sales.rules.PeriodSales` against `previous` (None for a baseline), and
    `reconciliation` compares it with the machine's vends between `previous.audited_at` and
    `audited_at`. Both are JSON written at import: a later vend does not change them; only an
    older audit arriving late rewrites the audit after it (`sales.audits`), whose period it
    now opens.
    """

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="audits")
    uploaded_at = models.DateTimeField(_("uploaded at"))
    #: The readout's own clock (EA3), read in the organization's time zone; None without one.
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    #: read_at when the audit carries a believable one, else uploaded_at: the period's end.
    audited_at = models.DateTimeField(_("audited at"))
    raw_text = models.TextField(_("raw text"))
    #: SHA-256 of raw_text: a re-sent identical file is the same record.
    raw_sha256 = models.CharField(_("SHA-256 of the raw text"), max_length=64)
    machine_serial = models.CharField(_("machine serial (ID1)"), max_length=64, blank=True)
    source = models.CharField(_("source"), max_length=8, choices=AuditSource.choices)
    previous = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+", verbose_name=_("previous audit"))
    period = models.JSONField(_("period sales"), default=dict)
    reconciliation = models.JSONField(_("reconciliation with vends"), default=dict)

    class Meta:
        ordering = ["-audited_at"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "raw_sha256"],
                                    name="unique_audit_text_per_machine"),
        ]
        indexes = [models.Index(fields=["machine", "audited_at"])]
        verbose_name = _("audit")
        verbose_name_plural = _("audits")

    def __str__(self) -> str:
        return f"{self.machine_id} @ {self.audited_at:%Y-%m-%d %H:%M}"


class CashSource(models.TextChoices):
    """What an expected cash figure rests on (`sales.cash_rules.estimate`)."""

    VENDS = "vends", _("Cash vends")
    AUDIT = "audit", _("Audit")


class CashCollection(BaseModel):
    """Cash counted out of a machine's box: the estimate (`sales.cash`) starts from zero
    after it. `expected` is the estimate at `collected_at`, written once, so the difference
    stays what the collector faced even when late vends arrive."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE,
                                related_name="cash_collections")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="cash_collections")
    collected_at = models.DateTimeField(_("collected at"))
    amount = models.PositiveBigIntegerField(
        _("counted amount"), help_text=_("Integer, in the currency's smallest unit in use "
                                         "(UZS: sums)."))
    expected = models.PositiveBigIntegerField(_("expected amount"), default=0)
    expected_source = models.CharField(_("expected from"), max_length=8,
                                       choices=CashSource.choices, default=CashSource.VENDS)
    #: The previous collection's time: the period the expected amount covers starts here
    #: (None: the machine's first collection, counted from its first vend).
    period_from = models.DateTimeField(_("since"), null=True, blank=True)
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("collected by"),
    )
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="cash_collections", verbose_name=_("task closed"))
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        ordering = ["-collected_at"]
        constraints = [
            # "Since the last collection" must name one moment.
            models.UniqueConstraint(fields=["machine", "collected_at"],
                                    name="unique_cash_collection_time_per_machine"),
        ]
        verbose_name = _("cash collection")
        verbose_name_plural = _("cash collections")

    def __str__(self) -> str:
        return f"{self.machine_id} @ {self.collected_at:%Y-%m-%d %H:%M}"

    @property
    def difference(self) -> int:
        """Counted minus expected: negative when cash is missing."""
        return self.amount - self.expected
