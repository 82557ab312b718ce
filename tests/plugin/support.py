"""Constants shared by the plugin's tests."""

import os

#: The shared Redis every helper and CI use: never flushed, keys under unique prefixes.
REAL_URL = os.environ.get("PANICQUOTA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
