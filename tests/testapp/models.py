"""Models of the test app: rows that AsyncSignal tests send to workers."""

import uuid

from django.db import models


class Order(models.Model):
    """A row with an integer primary key."""

    number = models.CharField(max_length=40)
    total = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    def __str__(self) -> str:
        return f"Order {self.number}"


class Ticket(models.Model):
    """A row with a UUID primary key (the pk itself travels through a mapping)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE)
    title = models.CharField(max_length=40)

    def __str__(self) -> str:
        return f"Ticket {self.title}"
