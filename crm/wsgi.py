import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
application = get_wsgi_application()

# Import every view now, then take all that is loaded out of the garbage collector's sight: it
# lives as long as the worker, and full collections walking it cost about a tenth of a card
# page (benchmarks/card_page.py). gc.freeze() is meant for this (Python docs, "gc.freeze").
get_resolver().url_patterns  # noqa: B018 (the attribute imports the URLconf and the views)
gc.freeze()
