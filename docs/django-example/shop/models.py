"""The host's own model: an order placed for a CRM contact."""

from django.conf import settings
from django.db import models


class Order(models.Model):
    # A CRM contact: opencrm's mirrored, read-only model. No database constraint and no
    # cascade, because opencrm deletes its records without asking Django.
    customer = models.ForeignKey(
        "opencrm.Contact",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="orders",
    )
    item = models.CharField(max_length=200)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    placed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.item} for {self.customer}"
