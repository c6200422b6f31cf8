"""Test settings: the product's settings with development secrets allowed and fast hashing."""

import os

os.environ.setdefault("DEBUG", "1")

from crm.settings import *  # noqa: F403
from crm.settings import CACHES, REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if REDIS_URL:  # a shared Redis: keep each test run's keys apart
    CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
