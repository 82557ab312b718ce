"""pytest_panicquota: fixtures, checks and certification for panicquota users."""
