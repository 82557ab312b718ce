"""The project's counted benchmark: basket_total's instructions per call, gated in CI."""

import pytest
from pricing import basket_args, basket_total


@pytest.mark.panic_instructions("pricing:basket_total", setup="pricing:basket_args", calls=2000)
def test_basket_total_cost():
    """Count one 20-line basket (the body checks the answer first)."""
    assert basket_total(*basket_args()) == 348.34
