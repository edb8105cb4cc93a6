"""Wiring shared by the dashboards: controls, a status line and the figure.

A :class:`Dashboard` is an ``ipywidgets.VBox`` of controls, a status line and
an image of the figure.  It holds no model logic: a change of any control calls
the dashboard's ``render(values, coarse)`` function — a thin wrapper over a
pure ``compute_*`` function — and shows the figure it returns.

While a control moves, the render is *coarse* (fewer replications, shorter
runs) so that the figure follows the slider within about a quarter of a
second; once the controls have been still for ``settle_s`` seconds a *full*
render replaces it.  Exceptions inside ipywidgets callbacks are swallowed by
the front end, so errors are caught here and shown in the status line, and the
tests call :meth:`Dashboard.update` directly.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from simkit.errors import SimkitError

__all__ = ["Dashboard", "figure_png"]

#: Resolution of the figure image in the dashboard [dots per inch].
DASHBOARD_DPI = 72


def figure_png(fig: Figure, dpi: int = DASHBOARD_DPI) -> bytes:
    """Render a matplotlib Figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class Dashboard(widgets.VBox):
    """Controls, a status line and the figure, redrawn when a control changes.

    Parameters
    ----------
    controls : mapping of str to ipywidgets.ValueWidget
        Keyword name -> control; the values are passed to ``render`` by name.
    render : callable
        ``render(values: dict, coarse: bool) -> result`` where ``result`` has a
        ``figure`` attribute (a matplotlib Figure).
    settle_s : float or None
        After a change, render at full quality once the controls have been still
        this long [s]; ``None`` renders at full quality on every change (no timer).
    title : str
        Heading shown above the controls.
    """

    def __init__(
        self,
        controls: Mapping[str, widgets.ValueWidget],
        render: Callable[[dict[str, Any], bool], Any],
        *,
        settle_s: float | None = 0.6,
        title: str = "",
    ) -> None:
        self.controls = dict(controls)
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png")
        self.result: Any = None
        self.last_seconds = float("nan")
        self._render = render
        self._settle_s = settle_s
        self._timer: threading.Timer | None = None
        self._generation = 0
        self._lock = threading.Lock()
        heading = [widgets.HTML(f"<b>{title}</b>")] if title else []
        panel = widgets.HBox(
            list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__([*heading, panel, self.status, self.image])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.update(coarse=False)

    # ------------------------------------------------------------------ state
    @property
    def values(self) -> dict[str, Any]:
        """Current control values by keyword name."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def figure(self) -> Figure | None:
        """The figure shown now (``None`` before the first successful render)."""
        return None if self.result is None else self.result.figure

    # ------------------------------------------------------------------ rendering
    def update(self, coarse: bool = False) -> Any:
        """Recompute and redraw now; returns the compute result (``None`` on error)."""
        with self._lock:
            generation = self._generation
            t0 = time.perf_counter()
            try:
                result = self._render(self.values, coarse)
                png = figure_png(result.figure)
            except SimkitError as exc:
                self.status.value = f"<span style='color:#b00'>{exc}</span>"
                return None
            if generation != self._generation:  # a newer change arrived meanwhile
                return result
            self.result = result
            self.image.value = png
            self.last_seconds = time.perf_counter() - t0
            quality = "preview (coarse)" if coarse else "full"
            self.status.value = f"<small>{quality}: {self.last_seconds:.2f} s</small>"
            return result

    def _on_change(self, _change: object) -> None:
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._settle_s is None:
            self.update(coarse=False)
            return
        self.update(coarse=True)
        self._timer = threading.Timer(self._settle_s, self._settled, args=(self._generation,))
        self._timer.daemon = True
        self._timer.start()

    def _settled(self, generation: int) -> None:
        if generation == self._generation:
            self.update(coarse=False)

    def close(self) -> None:
        """Stop a pending full render and close the widgets."""
        if self._timer is not None:
            self._timer.cancel()
        super().close()
