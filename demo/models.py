from django.conf import settings
from django.db import models


class Note(models.Model):
    """A note a user saves on the AsyncSignal page; saving it sends ``note_saved``."""

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="demo_notes"
    )
    text = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.text
