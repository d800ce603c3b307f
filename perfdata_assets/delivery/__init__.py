"""Delivery of the monthly OPG performance-data file to OPG's S3 bucket.

OPG's import (GitHub Actions, 12:00 UTC on the 1st) copies last month's file
from the bucket; this package puts it there first, uploads a file again only
when its bytes changed, and says when a file arrived too late for the import.
May import: config, db, publishing (the exports and the published values).
"""
