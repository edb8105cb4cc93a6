"""Trace formats: Prometheus query_range JSON, rate columns, peak scaling, unknown formats."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import simkit
from simkit.errors import TraceError


def _prometheus(path, series_values, start=1_700_000_000, step=60):
    result = [
        {
            "metric": {"instance": f"api-{i}"},
            "values": [[start + step * j, str(v)] for j, v in enumerate(values)],
        }
        for i, values in enumerate(series_values)
    ]
    doc = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_prometheus_query_range_is_summed_over_series(tmp_path):
    path = _prometheus(tmp_path / "q.json", [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    trace = simkit.read_trace(path)
    assert trace.to_numpy() == pytest.approx([11.0, 22.0, 33.0])  # rates, summed
    assert trace.attrs["interval_s"] == 60.0
    assert trace.index[0] == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"status": "error"}, "not a Prometheus query_range response"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "resultType"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "no series"),
        (
            {"status": "success", "data": {"resultType": "matrix", "result": [{"values": [[1]]}]}},
            "not \\[unix_seconds",
        ),
    ],
)
def test_bad_prometheus_documents(tmp_path, doc, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TraceError, match=message):
        simkit.read_trace(path)


def test_prometheus_series_on_different_instants(tmp_path):
    path = _prometheus(tmp_path / "q.json", [[1.0, 2.0], [1.0, 2.0, 3.0]])
    with pytest.raises(TraceError, match=r"data.result\[1\] has other timestamps"):
        simkit.read_trace(path)


def test_csv_with_a_rate_column_is_not_divided(tmp_path):
    path = tmp_path / "rate.csv"
    path.write_text(
        "timestamp,rate_rps\n2024-01-01T00:00:00Z,5\n2024-01-01T00:01:00Z,7\n", encoding="utf-8"
    )
    assert simkit.read_trace(path).to_numpy() == pytest.approx([5.0, 7.0])


def test_peak_scaling(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        "timestamp,value\n2024-01-01T00:00:00Z,60\n2024-01-01T00:01:00Z,120\n", encoding="utf-8"
    )
    trace = simkit.read_trace(path, peak_rps=300.0)
    assert trace.to_numpy() == pytest.approx([150.0, 300.0])
    for bad in (0.0, -1.0, float("nan"), True):
        with pytest.raises(TraceError, match="peak_rps"):
            simkit.read_trace(path, peak_rps=bad)


def test_unknown_format(tmp_path):
    path = tmp_path / "trace.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(TraceError, match=r"unknown format '\.parquet'"):
        simkit.read_trace(path)


def test_replayed_prometheus_trace_drives_the_simulation(tmp_path):
    rates = np.full(120, 50.0)
    path = _prometheus(tmp_path / "q.json", [rates])
    trace = simkit.read_trace(path)
    s = simkit.load_scenario("production")
    r = simkit.simulate(s, duration="1h", replications=2, trace=trace)
    assert r.rate_rps == pytest.approx(np.full_like(r.rate_rps, 50.0))
