"""Wire shapes of the product and planogram endpoints (camelCase, money as integers).

Vends from devices are parsed by `sales.vends.parse_vends` (hand-written, like telemetry).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

from machines.models import Ingredient, Organization
from machines.selectors import managed_organization_ids_for
from sales.models import Planogram, Product, Selection
from sales.services import RecipeSpec, SelectionSpec
from telemetry.validation import Collector, join
from vendhub.fields import UTCDateTimeField

#: 10^15 of the smallest unit: far beyond any price, and exact in a JavaScript number.
MAX_AMOUNT = 10**15
MAX_SELECTIONS = 500


class ProductSerializer(serializers.ModelSerializer):
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.none(), required=False,
        help_text="Required when you manage several organizations.")
    unitCost = serializers.IntegerField(source="unit_cost", min_value=0, max_value=MAX_AMOUNT,
                                        required=False, help_text="Integer, smallest currency "
                                        "unit in use (UZS: sums).")
    createdAt = UTCDateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Product
        fields = ["id", "organization", "name", "sku", "barcode", "category", "unitCost",
                  "createdAt"]
        # Uniqueness per organization is checked in validate(), naming the field.
        validators: list = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        self.fields["organization"].queryset = Organization.objects.filter(
            pk__in=managed_organization_ids_for(user))

    def validate(self, attrs: dict) -> dict:
        organization = attrs.get("organization")
        if organization is None:
            choices = list(self.fields["organization"].queryset[:2])
            if len(choices) != 1:
                raise serializers.ValidationError({"organization": [
                    "Name the organization: you manage several."]})
            organization = attrs["organization"] = choices[0]
        for name in ("sku", "barcode"):
            value = attrs.get(name)
            if value and Product.objects.filter(organization=organization,
                                                **{name: value}).exists():
                raise serializers.ValidationError({name: [
                    f"Another product of this organization has this {name}."]})
        return attrs


class RecipeItemSerializer(serializers.Serializer):
    ingredientId = serializers.UUIDField()
    ingredientName = serializers.CharField(read_only=True)
    grams = serializers.IntegerField(min_value=1, max_value=10_000)


class SelectionSerializer(serializers.Serializer):
    code = serializers.RegexField(r"^[0-9A-Za-z._-]{1,16}$", help_text='As the machine '
                                  'reports it: "12", "A3".')
    productId = serializers.UUIDField()
    productName = serializers.CharField(read_only=True)
    price = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT,
                                     help_text="Integer, smallest currency unit in use "
                                               "(UZS: sums).")
    capacity = serializers.IntegerField(min_value=0, max_value=10_000, required=False,
                                        allow_null=True)
    parLevel = serializers.IntegerField(min_value=0, max_value=10_000, required=False,
                                        allow_null=True)
    recipe = RecipeItemSerializer(many=True, required=False)

    def validate(self, attrs: dict) -> dict:
        capacity, par = attrs.get("capacity"), attrs.get("parLevel")
        if capacity is not None and par is not None and par > capacity:
            raise serializers.ValidationError({"parLevel": ["Exceeds the capacity."]})
        ingredients = [item["ingredientId"] for item in attrs.get("recipe", [])]
        if len(set(ingredients)) != len(ingredients):
            raise serializers.ValidationError({"recipe": ["An ingredient is listed twice."]})
        return attrs


class PlanogramSerializer(serializers.Serializer):
    """`PUT /machines/{id}/planogram` body and the GET answer."""

    id = serializers.UUIDField(read_only=True)
    machineId = serializers.UUIDField(read_only=True)
    effectiveFrom = UTCDateTimeField(read_only=True)
    selections = SelectionSerializer(many=True, allow_empty=True)

    def validate_selections(self, value: list[dict]) -> list[dict]:
        if len(value) > MAX_SELECTIONS:
            raise serializers.ValidationError(f"At most {MAX_SELECTIONS} selections.")
        machine = self.context["machine"]
        products = set(Product.objects.filter(
            organization_id=machine.organization_id,
            pk__in=[s["productId"] for s in value]).values_list("pk", flat=True))
        ingredients = set(Ingredient.objects.filter(
            organization_id=machine.organization_id,
            pk__in=[i["ingredientId"] for s in value for i in s.get("recipe", [])],
        ).values_list("pk", flat=True))
        # Keyed by index: the view names them by path (`selections[1].productId`).
        errors: dict[int, dict] = {}
        seen: set[str] = set()
        for index, selection in enumerate(value):
            error: dict = {}
            if selection["code"] in seen:
                error["code"] = ["Selection code listed twice."]
            seen.add(selection["code"])
            if selection["productId"] not in products:
                error["productId"] = ["Not a product of the machine's organization."]
            recipe_errors = {
                position: {"ingredientId": ["Not an ingredient of the machine's organization."]}
                for position, item in enumerate(selection.get("recipe", []))
                if item["ingredientId"] not in ingredients
            }
            if recipe_errors:
                error["recipe"] = recipe_errors
            if error:
                errors[index] = error
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def specs(self) -> list[SelectionSpec]:
        return [
            SelectionSpec(
                code=s["code"], product_id=s["productId"], price=s["price"],
                capacity=s.get("capacity"), par_level=s.get("parLevel"),
                recipe=tuple(RecipeSpec(i["ingredientId"], i["grams"])
                             for i in s.get("recipe", [])),
            )
            for s in self.validated_data["selections"]
        ]


def field_paths(detail: Any) -> dict[str, list[str]]:
    """DRF's nested errors (`{"selections": [{}, {"price": [...]}]}`) keyed by the path of
    each bad field, as vend ingestion names them (`selections[1].price`,
    `selections[0].recipe[2].ingredientId`): one flat shape for every 400 of the sales API.
    A nested serializer's errors about the whole object belong to the object's path."""
    out = Collector()
    _walk(detail, "", out)
    return out.report()


def _walk(detail: Any, path: str, out: Collector) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                _walk(value, path, out)
            else:  # an int key is a list index (PlanogramSerializer.validate_selections)
                _walk(value, f"{path}[{key}]" if isinstance(key, int) else join(path, key), out)
    elif isinstance(detail, list) and not all(isinstance(item, str) for item in detail):
        for index, item in enumerate(detail):  # a list serializer's: {} for a valid item
            _walk(item, f"{path}[{index}]", out)
    else:
        for message in detail if isinstance(detail, list) else [detail]:
            out.add(path, str(message))


def selection_document(selection: Selection) -> dict:
    return {
        "code": selection.code,
        "productId": str(selection.product_id),
        "productName": selection.product.name,
        "price": selection.price,
        "capacity": selection.capacity,
        "parLevel": selection.par_level,
        "recipe": [{"ingredientId": str(item.ingredient_id),
                    "ingredientName": item.ingredient.name, "grams": item.grams}
                   for item in selection.recipe.all()],
    }


def planogram_document(planogram: Planogram) -> dict:
    """The planogram as GET /machines/{id}/planogram answers (selections prefetched)."""
    return {
        "id": str(planogram.pk),
        "machineId": str(planogram.machine_id),
        "effectiveFrom": PlanogramSerializer().fields["effectiveFrom"].to_representation(
            planogram.effective_from),
        "selections": [selection_document(s) for s in planogram.selections.all()],
    }


class StrictIntegerField(serializers.IntegerField):
    """An integer that is a JSON number: `true` or `"12"` is an error naming the field."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class CashCollectionInSerializer(serializers.Serializer):
    """`POST /machines/{id}/collections/`: the cash counted out of the machine."""

    amount = StrictIntegerField(min_value=0, max_value=MAX_AMOUNT,
                                help_text="Counted, an integer in the currency's smallest "
                                          "unit in use (UZS: sums).")
    collectedAt = UTCDateTimeField(required=False, help_text="ISO 8601; default: now.")
    notes = serializers.CharField(required=False, allow_blank=True, max_length=1000)
