"""Prices: every profile's price matches the shipped table, multi-cloud is share-weighted."""

from __future__ import annotations

import pytest

import simkit
from simkit.cost import instance_price_usd_per_h
from simkit.errors import ScenarioError
from simkit.io import read_prices


def test_price_table_has_a_source_for_every_price():
    table = read_prices()
    assert len(table) >= 5
    assert table["source"].str.len().min() > 20
    assert (table["usd_per_h"] > 0).all()
    assert set(table["provider"]) == {"aws", "azure", "gcp", "digitalocean"}


@pytest.mark.parametrize("profile", ["production", "development"])
def test_single_region_profiles_use_the_table_price(profile):
    s = simkit.load_scenario(profile)
    table = read_prices()
    row = table[(table["provider"] == "aws") & (table["instance_type"] == s.cost.instance_type)]
    assert s.cost.instance_usd_per_h == pytest.approx(float(row["usd_per_h"].iloc[0]))
    assert instance_price_usd_per_h(s) == s.cost.instance_usd_per_h


def test_multi_cloud_price_is_weighted_by_traffic_share():
    s = simkit.load_scenario("experimental")
    # 0.4 x AWS 0.0416 + 0.2 x Azure 0.0416 + 0.2 x GCP 0.03350571 + 0.2 x DO 0.03571
    expected = 0.4 * 0.0416 + 0.2 * 0.0416 + 0.2 * 0.03350571 + 0.2 * 0.03571
    assert instance_price_usd_per_h(s) == pytest.approx(expected)


def test_unknown_region_price_is_an_error():
    s = simkit.load_scenario("experimental")
    regions = [r | {} for r in s.to_dict()["regions"]]
    regions[1]["name"] = "mars-1"
    with pytest.raises(ScenarioError, match="mars-1"):
        instance_price_usd_per_h(s.replace(regions=regions))
