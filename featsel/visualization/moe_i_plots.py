"""Pictures of the MoE-I router report (SPEC S3, seed 002 §5): reliability
diagram, coverage-accuracy curve over the abstention threshold, misrouting
sensitivity, severity-binned gains and the quality-cost Pareto plot.

Each ``*_figure`` function takes plain arrays and dicts (the numbers come
from :mod:`featsel.evaluation.calibration` and
:mod:`featsel.evaluation.routing`) and returns a matplotlib ``Figure``
drawn on the Agg canvas (no display, no pyplot state);
:func:`save_figure` writes it as a PNG.
"""
from typing import TYPE_CHECKING, Mapping, Optional, Sequence, Tuple

import numpy as np

from featsel.utils import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    'coverage_accuracy_figure', 'misrouting_figure', 'pareto_figure',
    'reliability_figure', 'save_figure', 'severity_gains_figure'
]

_SIZE = (5.0, 4.0)  # inches
DPI = 100


def _figure(size: Tuple[float, float] = _SIZE) -> 'Figure':
    """A figure on an Agg canvas (matplotlib imported on first use)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _vector(values, name: str, length: Optional[int] = None) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or (length is not None and len(values) != length):
        want = f'({length},)' if length is not None else '1-D'
        raise ValueError(f'{name} must be {want}, got shape {values.shape}')
    return values


def save_figure(fig: 'Figure', path: str) -> str:
    """Write ``fig`` as a PNG (atomically) and return ``path``."""
    import io
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=DPI)
    write_bytes_atomic(buffer.getvalue(), path)
    return path


def reliability_figure(curves: Mapping[str, Mapping[str, Sequence[float]]],
                       title: str = 'Router reliability') -> 'Figure':
    """Reliability diagram: accuracy against confidence per bin.

    One set of bars per curve (e.g. before and after temperature scaling),
    drawn over each non-empty bin; the diagonal is perfect calibration.

    Args:
        curves (Mapping[str, Mapping]): legend label -> dict with
            ``edges`` (M + 1,), ``accuracy`` (M,) and ``count`` (M,) (the
            fields of :class:`~featsel.evaluation.calibration.
            CalibrationBins`).
        title (str): Axes title.

    Returns:
        Figure
    """
    if not curves:
        raise ValueError('reliability_figure needs at least one curve')
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color='0.5', linestyle='--', linewidth=1,
            label='perfect calibration')
    for label, bins in curves.items():
        edges = _vector(bins['edges'], f'{label}: edges')
        accuracy = _vector(bins['accuracy'], f'{label}: accuracy',
                           len(edges) - 1)
        count = _vector(bins['count'], f'{label}: count', len(edges) - 1)
        shown = count > 0
        ax.bar(edges[:-1][shown], accuracy[shown],
               width=np.diff(edges)[shown], align='edge', alpha=0.5,
               edgecolor='black', linewidth=0.5, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel='confidence (max p)',
           ylabel='accuracy vs oracle expert', title=title)
    ax.legend(loc='upper left', fontsize=8)
    fig.tight_layout()
    return fig


def coverage_accuracy_figure(abstention: Sequence[float],
                             kept_accuracy: Sequence[float],
                             chosen: Optional[Tuple[float, float]] = None,
                             max_abstention: Optional[float] = None
                             ) -> 'Figure':
    """Kept accuracy against coverage ``1 - abstention`` over ``tau``.

    Args:
        abstention (Sequence[float]): ``(C,)`` abstention per threshold.
        kept_accuracy (Sequence[float]): ``(C,)`` accuracy on kept images.
        chosen (tuple[float, float], optional): ``(abstention, accuracy)``
            of the chosen ``tau``, marked.
        max_abstention (float, optional): The cap, drawn as a vertical
            line at coverage ``1 - cap``.

    Returns:
        Figure
    """
    abstention = _vector(abstention, 'abstention')
    kept_accuracy = _vector(kept_accuracy, 'kept_accuracy', len(abstention))
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(1 - abstention, kept_accuracy, marker='.', markersize=3,
            linewidth=1, label='router')
    if max_abstention is not None:
        ax.axvline(1 - max_abstention, color='0.5', linestyle='--',
                   linewidth=1, label=f'abstention cap {max_abstention:.0%}')
    if chosen is not None:
        ax.plot([1 - chosen[0]], [chosen[1]], marker='o', color='red',
                linestyle='none', label=f'chosen tau ({1 - chosen[0]:.0%} '
                f'kept, acc {chosen[1]:.3f})')
    ax.set(xlabel='coverage (share routed to an expert)',
           ylabel='accuracy on kept images',
           title='Coverage-accuracy over tau')
    ax.legend(loc='lower left', fontsize=8)
    fig.tight_layout()
    return fig


def misrouting_figure(rates: Sequence[float],
                      drops: Mapping[str, Sequence[float]],
                      bar: Optional[float] = None) -> 'Figure':
    """Score drop against the share of images forced to a wrong expert.

    Args:
        rates (Sequence[float]): ``(R,)`` forced misrouting rates in [0, 1].
        drops (Mapping[str, Sequence[float]]): label -> ``(R,)`` drop of
            the macro score (dB) at each rate.
        bar (float, optional): Allowed drop at 10 % (the success bar),
            drawn as a horizontal line.

    Returns:
        Figure
    """
    rates = _vector(rates, 'rates')
    if not drops:
        raise ValueError('misrouting_figure needs at least one series')
    fig = _figure()
    ax = fig.add_subplot()
    for label, values in drops.items():
        ax.plot(100 * rates, _vector(values, label, len(rates)), marker='o',
                label=label)
    if bar is not None:
        ax.axhline(bar, color='red', linestyle='--', linewidth=1,
                   label=f'bar: {bar} dB')
    ax.set(xlabel='forced misrouting (% of images)',
           ylabel='macro PSNR drop (dB)', title='Misrouting sensitivity')
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def severity_gains_figure(bin_labels: Sequence[str],
                          gains: Mapping[str, Sequence[float]],
                          errors: Optional[Mapping[str,
                                                   Sequence[float]]] = None
                          ) -> 'Figure':
    """Grouped bars: gain (e.g. MoE-I minus dense, dB) per severity bin and
    task, with optional error bars.

    Args:
        bin_labels (Sequence[str]): ``(M,)`` names of the bins.
        gains (Mapping[str, Sequence[float]]): task -> ``(M,)`` mean gains
            (NaN for an empty bin: drawn at height 0).
        errors (Mapping[str, Sequence[float]], optional): task -> ``(M,)``
            half-widths of the error bars.

    Returns:
        Figure
    """
    if not gains:
        raise ValueError('severity_gains_figure needs at least one task')
    m = len(bin_labels)
    fig = _figure()
    ax = fig.add_subplot()
    width = 0.8 / len(gains)
    for i, (task, values) in enumerate(gains.items()):
        values = _vector(values, task, m)
        err = None
        if errors is not None and task in errors:
            err = _vector(errors[task], f'errors of {task}', m)
        ax.bar(np.arange(m) + (i - (len(gains) - 1) / 2) * width,
               np.nan_to_num(values), width=width, yerr=err, capsize=2,
               label=task)
    ax.axhline(0, color='black', linewidth=0.8)
    ax.set_xticks(np.arange(m), list(bin_labels))
    ax.set(xlabel='severity bin', ylabel='gain over dense (dB)',
           title='Gain by degradation severity')
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pareto_figure(points: Mapping[str, Tuple[float, float]],
                  front: Sequence[str] = (),
                  cost_label: str = 'latency (ms/MP)',
                  quality_label: str = 'macro PSNR (dB)') -> 'Figure':
    """Quality against cost, one labelled point per model, the Pareto
    front (from :func:`featsel.evaluation.routing.pareto_front`) joined by
    a line.

    Args:
        points (Mapping[str, tuple[float, float]]): name -> ``(cost,
            quality)``.
        front (Sequence[str]): Names on the front, in increasing cost.
        cost_label (str): x-axis label.
        quality_label (str): y-axis label.

    Returns:
        Figure
    """
    if not points:
        raise ValueError('pareto_figure needs at least one point')
    unknown = [name for name in front if name not in points]
    if unknown:
        raise ValueError(f'front names {unknown} are not among the points')
    fig = _figure()
    ax = fig.add_subplot()
    for name, (cost, quality) in points.items():
        ax.plot([cost], [quality], marker='o', linestyle='none',
                color='tab:blue' if name in front else '0.6')
        ax.annotate(name, (cost, quality), textcoords='offset points',
                    xytext=(4, 4), fontsize=8)
    if front:
        ax.plot([points[n][0] for n in front], [points[n][1] for n in front],
                color='tab:blue', linewidth=1, label='Pareto front')
        ax.legend(fontsize=8)
    ax.set(xlabel=cost_label, ylabel=quality_label,
           title='Quality-cost Pareto')
    fig.tight_layout()
    return fig
