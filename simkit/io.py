"""Every file simkit reads or writes goes through this module.

Readers validate and raise one-line errors; writers are atomic (write a
temporary file beside the target, then rename), so an interrupted run never
leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simkit.errors import ScenarioError, TraceError
from simkit.scenario import Scenario

if TYPE_CHECKING:
    from simkit.result import SimResult

__all__ = [
    "atomic_path",
    "list_profiles",
    "load_scenario",
    "read_prices",
    "read_toml",
    "read_trace",
    "write_frame_csv",
    "write_result_npz",
    "write_text",
]


def list_profiles() -> list[str]:
    """Names of the profiles shipped inside the package (``simkit/profiles/*.toml``)."""
    folder = resources.files("simkit") / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_scenario(name_or_path: str | os.PathLike[str]) -> Scenario:
    """Load a shipped profile by name, or a scenario TOML file by path.

    Parameters
    ----------
    name_or_path : str or path
        ``"production"``, ``"development"``, ``"experimental"``, or a path to a
        ``.toml`` file (a copy of a profile, edited).

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        Unknown profile, unreadable or malformed TOML, or an invalid value.
    """
    text_name = os.fspath(name_or_path)
    if text_name in list_profiles():
        resource = resources.files("simkit") / "profiles" / f"{text_name}.toml"
        return _parse_toml(resource.read_text(encoding="utf-8"), f"profile {text_name!r}")
    path = Path(text_name)
    if path.suffix != ".toml" and not path.exists():
        raise ScenarioError(
            f"unknown profile {text_name!r}; choose one of {list_profiles()} or give a .toml file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {text_name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"scenario file {text_name} is not UTF-8 text") from None
    return _parse_toml(text, str(path))


def _parse_toml(text: str, where: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: malformed TOML: {exc}") from None
    try:
        return Scenario.from_dict(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write text to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_frame_csv(target: str | os.PathLike[str], frame: pd.DataFrame) -> Path:
    """Write a DataFrame as CSV atomically and return the path.

    A default ``RangeIndex`` (no name) carries no information and is left out.
    """
    plain = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=not plain)
    return Path(target)


def write_result_npz(target: str | os.PathLike[str], result: SimResult) -> Path:
    """Write a result's arrays and metadata to a compressed ``.npz`` file atomically."""
    arrays = result.arrays()
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return Path(target)


def read_trace(
    source: str | os.PathLike[str] | pd.Series,
    *,
    column: str = "value",
    per_interval: bool = True,
    peak_rps: float | None = None,
) -> pd.Series:
    """Read a workload trace as an offered rate [requests/s] with a UTC DatetimeIndex.

    Parameters
    ----------
    source : path or pandas.Series
        A CSV file with ``timestamp`` and ``value`` columns, or a Series indexed
        by timestamps.
    column : str
        Name of the value column in a CSV file.
    peak_rps : float, optional
        Scale the rate so that its largest value is this [1/s] (e.g. to replay a
        small site's traffic at the size of your service).
    per_interval : bool
        ``True`` if values are request counts per row interval (converted to a
        rate by dividing by the interval); ``False`` if they already are rates.

    Returns
    -------
    pandas.Series
        Offered rate [1/s], float64, index strictly increasing with one constant
        interval (``series.attrs["interval_s"]``).

    Raises
    ------
    TraceError
        Empty trace, unparsable timestamps, duplicate or non-monotonic
        timestamps, gaps (the row is named), negative or missing values.
    """
    if isinstance(source, pd.Series):
        series = source.copy()
        where = "trace"
    elif Path(os.fspath(source)).suffix.lower() == ".json":
        where = os.fspath(source)
        series = _read_prometheus_json(where)
        per_interval = False  # query_range values are rates (e.g. rate(...[1m]))
    elif Path(os.fspath(source)).suffix.lower() not in (".csv", ".txt", ""):
        raise TraceError(
            f"trace file {os.fspath(source)}: unknown format "
            f"{Path(os.fspath(source)).suffix!r}; allowed: .csv (timestamp,value or "
            "timestamp,rate_rps) or .json (a Prometheus query_range response)"
        )
    else:
        where = os.fspath(source)
        try:
            frame = pd.read_csv(where)
        except FileNotFoundError:
            raise TraceError(f"trace file {where} does not exist") from None
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise TraceError(f"trace file {where} cannot be read as CSV: {reason}") from None
        if column == "value" and "value" not in frame.columns and "rate_rps" in frame.columns:
            column, per_interval = "rate_rps", False  # the file says it holds rates
        for needed in ("timestamp", column):
            if needed not in frame.columns:
                raise TraceError(
                    f"{where}: column {needed!r} is missing; found {list(frame.columns)}"
                )
        index = _parse_timestamps(frame["timestamp"], where)
        series = pd.Series(frame[column].to_numpy(), index=index, name=column)
    if len(series) < 2:
        raise TraceError(f"{where}: needs at least 2 rows, found {len(series)}")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TraceError(f"{where}: index must be timestamps (a DatetimeIndex)")
    if series.index.hasnans:
        row = int(np.flatnonzero(series.index.isna())[0])
        raise TraceError(f"{where}: row {row} has no timestamp")
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        raise TraceError(
            f"{where}: row {row} ({series.index[row]}) has a missing or non-numeric value "
            f"{_show(series.iloc[row])}; allowed: a finite number >= 0"
        )
    neg = np.flatnonzero(values < 0)
    if neg.size:
        row = int(neg[0])
        raise TraceError(
            f"{where}: row {row} ({series.index[row]}) has a negative value {values[row]:g}; "
            "allowed: >= 0"
        )
    stamps = series.index.as_unit("ns").asi8
    diffs = np.diff(stamps)
    dup = np.flatnonzero(diffs == 0)
    if dup.size:
        raise TraceError(
            f"{where}: row {dup[0] + 1} repeats timestamp {series.index[dup[0]]}; "
            "timestamps must increase strictly"
        )
    back = np.flatnonzero(diffs < 0)
    if back.size:
        raise TraceError(
            f"{where}: row {back[0] + 1} ({series.index[back[0] + 1]}) goes back in time "
            f"from {series.index[back[0]]}; timestamps must increase strictly"
        )
    # The interval is the most common step (the smallest one on a tie): a median
    # would take a gap for the interval in short traces.
    steps, counts = np.unique(diffs, return_counts=True)
    interval = int(steps[np.argmax(counts)])
    gap = np.flatnonzero(diffs != interval)
    if gap.size:
        row = int(gap[0]) + 1
        raise TraceError(
            f"{where}: gap or irregular step before row {row}: {series.index[row - 1]} -> "
            f"{series.index[row]} is {(diffs[gap[0]]) / 1e9:g} s, the trace interval is "
            f"{interval / 1e9:g} s; replay an unbroken stretch"
        )
    interval_s = interval / 1e9
    if series.index.tz is None:
        index = series.index.tz_localize("UTC")
    else:
        index = series.index.tz_convert("UTC")
    rate = values / interval_s if per_interval else values
    if peak_rps is not None:
        if (
            isinstance(peak_rps, bool)
            or not isinstance(peak_rps, int | float)
            or not (0 < peak_rps < 1e9)
        ):
            raise TraceError(f"peak_rps = {peak_rps!r} must be a number in (0, 1e9) [req/s]")
        if rate.max() <= 0:
            raise TraceError(f"{where}: every value is 0; cannot scale to peak_rps = {peak_rps:g}")
        rate = rate * (float(peak_rps) / rate.max())
    out = pd.Series(rate, index=index, name="rate_rps")
    out.attrs["interval_s"] = interval_s
    return out


def _show(value: Any) -> str:
    """A cell value for an error message: strings quoted, numbers plain."""
    return repr(value) if isinstance(value, str) else str(value)


def _parse_timestamps(column: pd.Series, where: str) -> pd.DatetimeIndex:
    """ISO 8601 timestamps as a UTC DatetimeIndex; the first bad row is named."""
    parsed = pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise TraceError(
            f"{where}: row {row} has an unparsable timestamp {_show(column.iloc[row])}; "
            "allowed: ISO 8601, e.g. '1995-07-01T04:00:00Z'"
        )
    return pd.DatetimeIndex(parsed)


def _read_prometheus_json(where: str) -> pd.Series:
    """The values of a Prometheus ``query_range`` response, summed over its series."""
    try:
        with open(where, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise TraceError(f"trace file {where} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = " ".join(str(exc).split())
        raise TraceError(f"trace file {where} is not valid JSON: {reason}") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("status") != "success" or not isinstance(data, dict):
        raise TraceError(
            f"{where}: not a Prometheus query_range response; allowed: "
            '{"status": "success", "data": {"resultType": "matrix", "result": [...]}}'
        )
    if data.get("resultType") != "matrix":
        raise TraceError(
            f"{where}: data.resultType = {data.get('resultType')!r}; allowed: 'matrix' "
            "(a range query)"
        )
    result = data.get("result")
    if not isinstance(result, list) or not result:
        raise TraceError(f"{where}: data.result is empty; the query returned no series")
    columns = []
    for i, item in enumerate(result):
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list) or not values:
            raise TraceError(f"{where}: data.result[{i}].values is missing or empty")
        try:
            stamps = [float(v[0]) for v in values]
            numbers = [float(v[1]) for v in values]
        except (TypeError, ValueError, IndexError):
            raise TraceError(
                f"{where}: data.result[{i}].values holds an entry that is not "
                '[unix_seconds, "number"]'
            ) from None
        index = pd.to_datetime(np.asarray(stamps), unit="s", utc=True)
        columns.append(pd.Series(numbers, index=index))
    first = columns[0].index
    for i, col in enumerate(columns[1:], start=1):
        if not col.index.equals(first):
            raise TraceError(
                f"{where}: data.result[{i}] has other timestamps than data.result[0]; "
                "allowed: series sampled at the same instants (they are summed)"
            )
    total = sum(col.to_numpy() for col in columns)
    return pd.Series(total, index=first, name="value")


def read_prices() -> pd.DataFrame:
    """The instance price table shipped with simkit (``simkit/data/prices.csv``).

    One row per provider, region and instance type with the on-demand price
    [USD/h] and the page it comes from (``source``).
    """
    resource = resources.files("simkit") / "data" / "prices.csv"
    with resource.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read any TOML file (e.g. ``pyproject.toml``) as plain data."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)
