"""Price of an instance-hour for a scenario, from its regions and the price table."""

from __future__ import annotations

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
    table = read_prices()
    price = 0.0
    for i, region in enumerate(scenario.regions):
        rows = table[(table["provider"] == region.provider) & (table["region"] == region.name)]
        if rows.empty:
            known = sorted(
                f"{p}/{r}" for p, r in zip(table["provider"], table["region"], strict=True)
            )
            raise ScenarioError(
                f"regions[{i}] = {region.provider}/{region.name} has no price in "
                f"simkit/data/prices.csv; known: {known}"
            )
        price += region.traffic_share * float(rows["usd_per_h"].iloc[0])
    return price
