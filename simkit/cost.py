"""Price of an instance-hour for a scenario, from its regions and the price table."""

from __future__ import annotations

import functools

from simkit.errors import ScenarioError
from simkit.io import read_prices
from simkit.scenario import Scenario

__all__ = ["instance_price_usd_per_h"]


def instance_price_usd_per_h(scenario: Scenario) -> float:
    """Mean price of one instance-hour [USD/h].

    A single-region scenario pays ``cost.instance_usd_per_h``.  A multi-region one
    pays each region's list price for its 2 vCPU / 4 GiB instance (from
    ``simkit/data/prices.csv``), weighted by the region's traffic share (instances
    follow traffic).

    Raises
    ------
    ScenarioError
        If a region has no price in the table.
    """
    if len(scenario.regions) == 1:
        return scenario.cost.instance_usd_per_h
    prices = _price_by_region()
    price = 0.0
    for i, region in enumerate(scenario.regions):
        key = (region.provider, region.name)
        if key not in prices:
            known = sorted(f"{p}/{r}" for p, r in prices)
            raise ScenarioError(
                f"regions[{i}] = {region.provider}/{region.name} has no price in "
                f"simkit/data/prices.csv; known: {known}"
            )
        price += region.traffic_share * prices[key]
    return price


@functools.cache
def _price_by_region() -> dict[tuple[str, str], float]:
    """``(provider, region) -> USD/h`` from the shipped table, read once per process."""
    table = read_prices()
    keys = zip(table["provider"], table["region"], strict=True)
    return dict(zip(keys, table["usd_per_h"].astype(float), strict=True))
