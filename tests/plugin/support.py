"""Constants shared by the plugin's tests."""

#: The shared Redis every helper and CI use: never flushed, keys under unique prefixes.
REAL_URL = "redis://127.0.0.1:6379/0"
