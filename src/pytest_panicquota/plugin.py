"""The pytest plugin's hooks and fixtures."""
