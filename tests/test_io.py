"""Tests of simkit.io: loading scenarios, reading traces, atomic writers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simkit
from simkit.errors import ScenarioError, TraceError
from simkit.io import atomic_path, load_scenario, read_trace, write_frame_csv, write_text

PROFILES = ("production", "development", "experimental")
NASA = Path(__file__).resolve().parents[2] / "shared" / "traces" / "nasa_http_1995_1min.csv"


def _profile_path(name: str) -> Path:
    return Path(simkit.__file__).parent / "profiles" / f"{name}.toml"


def _one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


# ------------------------------------------------------------------------ load_scenario


@pytest.mark.parametrize("profile", PROFILES)
def test_load_profile_by_name_and_by_path(profile: str) -> None:
    by_name = load_scenario(profile)
    assert by_name.name == profile
    assert load_scenario(_profile_path(profile)) == by_name  # os.PathLike
    assert load_scenario(str(_profile_path(profile))) == by_name


def test_load_copied_and_edited_file(tmp_path: Path) -> None:
    text = _profile_path("production").read_text(encoding="utf-8")
    assert text.count('name = "production"') == 1
    assert text.count("max_replicas = 12 ") == 1
    edited = text.replace('name = "production"', 'name = "bigger"').replace(
        "max_replicas = 12 ", "max_replicas = 30 "
    )
    path = tmp_path / "bigger.toml"
    path.write_text(edited, encoding="utf-8")
    s = load_scenario(path)
    prod = load_scenario("production")
    assert (s.name, s.autoscaling.max_replicas) == ("bigger", 30)
    assert s == prod.replace(name="bigger", autoscaling__max_replicas=30)


def test_minimal_file_takes_defaults(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\n[service]\nport = 9000\n', encoding="utf-8")
    s = load_scenario(path)
    assert s == simkit.Scenario(name="tiny").replace(service__port=9000)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


BAD_FILES = {
    "unclosed-table": ('name = "x"\n[service\n', ["malformed TOML", "line 2"]),
    "missing-value": ("name = \n", ["malformed TOML", "line 1"]),
    "duplicate-key": ('name = "x"\nname = "y"\n', ["malformed TOML"]),
    "bad-string": ('name = "x\n', ["malformed TOML"]),
    "str-port": ('[service]\nport = "80"\n', ["service.port = '80'", "whole number"]),
    "float-port": ("[service]\nport = 80.5\n", ["service.port = 80.5", "whole number"]),
    "port-range": ("[service]\nport = 70000\n", ["service.port = 70000", "[1, 65535]"]),
    "nan": ("[workload]\nnoise_sd = nan\n", ["workload.noise_sd = nan", "finite"]),
    "unknown-section": ("[database2]\nnodes = 1\n", ["database2 is not a known field"]),
    "unknown-nested": (
        "[autoscaling.behavior.scale_up]\nfoo = 1\n",
        ["autoscaling.behavior.scale_up.foo is not a known field"],
    ),
    "unknown-in-regions": (
        '[[regions]]\nname = "a"\nprovider = "aws"\ntraffic_share = 1.0\ncolor = "red"\n',
        ["regions[0].color is not a known field"],
    ),
    "region-shares": (
        '[[regions]]\nname = "a"\ntraffic_share = 0.5\n'
        '[[regions]]\nname = "b"\ntraffic_share = 0.4\n',
        ["regions traffic_share adds up to 0.9", "exactly 1"],
    ),
    "not-utf8": (b'name = "\xff\xfe"\n', ["not UTF-8"]),
}


@pytest.mark.parametrize(("content", "fragments"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_scenario_file(tmp_path: Path, content: str | bytes, fragments: list[str]) -> None:
    path = _write(tmp_path, "bad.toml", content)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = _one_line(info)
    assert str(path) in message  # the file is named
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_unknown_profile_lists_the_choices() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("staging")
    message = _one_line(info)
    assert "'staging'" in message
    assert "['development', 'experimental', 'production']" in message


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_scenario_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.toml"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(ScenarioError, match="cannot read scenario file") as info:
        load_scenario(path)
    assert str(path) in _one_line(info)


# ------------------------------------------------------------------------ read_trace


def _csv(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "timestamp,value\n"


def test_read_trace_converts_counts_per_interval_to_rate(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        HEADER + "2024-01-01T00:00:00Z,60\n2024-01-01T00:01:00Z,120\n2024-01-01T00:02:00Z,30\n",
    )
    rate = read_trace(path)
    assert rate.attrs["interval_s"] == 60.0
    np.testing.assert_array_equal(rate.to_numpy(), [1.0, 2.0, 0.5])  # 60/60, 120/60, 30/60
    assert rate.dtype == np.float64
    assert isinstance(rate.index, pd.DatetimeIndex)
    assert str(rate.index.tz) == "UTC"
    assert rate.index[0] == pd.Timestamp("2024-01-01T00:00:00Z")
    assert rate.name == "rate_rps"
    # already a rate: values kept as they are
    np.testing.assert_array_equal(read_trace(path, per_interval=False).to_numpy(), [60, 120, 30])


def test_read_trace_other_interval_offsets_and_naive_times(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "timestamp,hits\n2024-01-01 01:00:00+01:00,15\n2024-01-01 00:00:15,45\n",
    )
    rate = read_trace(path, column="hits")
    assert rate.attrs["interval_s"] == 15.0
    np.testing.assert_array_equal(rate.to_numpy(), [1.0, 3.0])  # 15/15, 45/15
    assert list(rate.index) == [
        pd.Timestamp("2024-01-01T00:00:00Z"),
        pd.Timestamp("2024-01-01T00:00:15Z"),
    ]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_read_trace_series_in_any_time_unit_and_zone(unit: str) -> None:
    index = pd.date_range("2024-01-01", periods=3, freq="30s", tz="US/Eastern").as_unit(unit)
    rate = read_trace(pd.Series([30.0, 60.0, 0.0], index=index))
    assert rate.attrs["interval_s"] == 30.0
    np.testing.assert_array_equal(rate.to_numpy(), [1.0, 2.0, 0.0])
    assert str(rate.index.tz) == "UTC"
    assert rate.index[0] == pd.Timestamp("2024-01-01T05:00:00Z")  # 00:00 EST = 05:00 UTC


def test_read_trace_series_needs_timestamps() -> None:
    with pytest.raises(TraceError, match="DatetimeIndex"):
        read_trace(pd.Series([1.0, 2.0]))


T0, T1, T2, T3 = (f"2024-01-01T00:0{i}:00Z" for i in range(4))

BAD_TRACES = {
    "empty-file": ("", ["cannot be read as CSV"]),
    "header-only": (HEADER, ["at least 2 rows, found 0"]),
    "one-row": (HEADER + f"{T0},5\n", ["at least 2 rows, found 1"]),
    "no-value-column": (f"timestamp,count\n{T0},1\n{T1},2\n", ["column 'value' is missing"]),
    "no-timestamp-column": (f"time,value\n{T0},1\n{T1},2\n", ["column 'timestamp' is missing"]),
    "bad-timestamp": (HEADER + f"{T0},5\nyesterday,6\n{T2},5\n", ["row 1", "'yesterday'"]),
    "empty-timestamp": (HEADER + f"{T0},5\n,6\n", ["row 1", "unparsable timestamp"]),
    "duplicate": (HEADER + f"{T0},5\n{T1},5\n{T1},5\n", ["row 2 repeats timestamp"]),
    "not-sorted": (HEADER + f"{T0},5\n{T2},5\n{T1},5\n", ["row 2", "goes back in time"]),
    "gap": (
        HEADER + f"{T0},5\n{T1},5\n{T3},5\n",
        ["gap", "before row 2", "00:01:00", "00:03:00", "120 s", "60 s"],
    ),
    "negative": (HEADER + f"{T0},5\n{T1},-1\n", ["row 1", "negative value -1"]),
    "missing-value": (HEADER + f"{T0},5\n{T1},\n", ["row 1", "missing or non-numeric"]),
    "non-numeric": (HEADER + f"{T0},5\n{T1},many\n", ["row 1", "'many'"]),
    "infinite": (HEADER + f"{T0},5\n{T1},inf\n", ["row 1", "non-numeric"]),
    "ragged-row": (HEADER + f"{T0},5\n{T1},5,6\n", ["cannot be read as CSV", "line 3"]),
}


@pytest.mark.parametrize(("text", "fragments"), BAD_TRACES.values(), ids=BAD_TRACES.keys())
def test_bad_trace(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    message = _one_line(info)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_trace(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "t.csv"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(TraceError) as info:
        read_trace(path)
    assert str(path) in _one_line(info)


@pytest.mark.skipif(not NASA.exists(), reason=f"{NASA} not available")
def test_nasa_trace_gap_and_unbroken_stretch(tmp_path: Path) -> None:
    # PROVENANCE.md: July data ends 1995-07-28T17:31Z, next row is 1995-08-01T04:00Z.
    with pytest.raises(TraceError) as info:
        read_trace(NASA)
    message = _one_line(info)
    assert "before row 39692" in message  # the first 39,692 rows are unbroken
    assert "1995-07-28 17:31:00+00:00 -> 1995-08-01 04:00:00+00:00" in message

    frame = pd.read_csv(NASA).iloc[:39692]
    assert (frame["timestamp"].iloc[0], frame["timestamp"].iloc[-1]) == (
        "1995-07-01T04:00:00Z",
        "1995-07-28T17:31:00Z",
    )
    part = tmp_path / "july.csv"  # a temporary copy, never part of the project
    frame.to_csv(part, index=False)
    rate = read_trace(part)
    assert rate.attrs["interval_s"] == 60.0
    assert len(rate) == 39692
    assert rate.index[0] == pd.Timestamp("1995-07-01T04:00:00Z")
    assert rate.index[-1] == pd.Timestamp("1995-07-28T17:31:00Z")
    assert (rate * 60.0).sum() == pytest.approx(frame["value"].sum(), rel=1e-12)
    assert rate.max() * 60.0 <= 405  # PROVENANCE.md: the largest minute has 405 requests


# ------------------------------------------------------------------------ writers


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_text_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "page.html"
    assert write_text(target, "<p>one</p>") == target
    assert target.read_text(encoding="utf-8") == "<p>one</p>"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("interrupted")
    assert target.read_text(encoding="utf-8") == "<p>one</p>"  # the old file survives
    assert _leftovers(target.parent) == []
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # like a normal open()


def test_write_frame_csv_round_trips(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.5, 2.5]}, index=pd.Index([0, 1], name="replication"))
    path = write_frame_csv(tmp_path / "k.csv", frame)
    pd.testing.assert_frame_equal(pd.read_csv(path, index_col="replication"), frame)
    assert _leftovers(tmp_path) == []
