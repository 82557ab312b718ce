"""An odds service on uvicorn served through ``PanicCache``, and its load test (``loadtest``)."""
