from django.contrib import admin

from shop.models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "item", "customer", "placed_by", "placed_at")
    raw_id_fields = ("customer",)
