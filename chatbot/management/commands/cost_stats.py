"""Cost-control figures: response-cache hits and misses (docs/cost-control.md)."""

from django.core.management.base import BaseCommand

from chatbot.cost.response_cache import response_cache_stats


class Command(BaseCommand):
    help = "Show the exact-match response cache's hit and miss counters."

    def handle(self, *args, **options):
        stats = response_cache_stats()
        total = stats["hits"] + stats["misses"]
        rate = f"{stats['hits'] / total:.1%}" if total else "n/a"
        self.stdout.write(
            f"response cache: {stats['hits']} hits, {stats['misses']} misses (hit rate {rate})"
        )
