"""``python manage.py purge_expired [--days N] [--dry-run]``: retention, now."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition import services


class Command(BaseCommand):
    help = ("Delete photos, crops and non-reference faces older than N days "
            "(default FACEWEB_RETENTION_DAYS); --dry-run only counts them.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.FACEWEB_RETENTION_DAYS)
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, days: int, dry_run: bool, **options):
        if days <= 0:
            raise CommandError("Give --days N (or set FACEWEB_RETENTION_DAYS): N > 0.")
        purge = services.photos_purge_expired(days=days, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(f"Older than {days} days: {verb} {purge.photos} photos and "
                          f"{purge.faces} faces with their files.")
