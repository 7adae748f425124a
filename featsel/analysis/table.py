"""The one table formatter of the analysis tools: text or Markdown, and
JSON for the same report.

A :class:`Table` holds a title, a header, rows of cells and notes (method,
FLOP convention, caveats); :func:`render` writes tables in a style::

    text      aligned columns, first left, the others right, a rule
    markdown  a pipe table (``---:`` for the numeric columns), notes as
              a list
"""
from dataclasses import asdict, dataclass, field
from typing import Any, List, Sequence

from featsel.utils import dump_json_atomic, write_bytes_atomic

STYLES = ('text', 'markdown')


@dataclass
class Table:
    """One table of a report.

    Args:
        header (list[str]): Column names.
        rows (list[list]): Cells; anything ``str()`` can print.
        title (str): Printed above the table ('' for none).
        notes (list[str]): Printed below, one per line.
    """

    header: List[str]
    rows: List[List[Any]]
    title: str = ''
    notes: List[str] = field(default_factory=list)


def number(value: Any, digits: int = 3) -> str:
    """A cell for a number: thousands separated from 1000 on, else
    ``digits`` significant digits; ``-`` for None."""
    if value is None:
        return '-'
    if isinstance(value, str):
        return value
    if isinstance(value, int) or abs(value) >= 1000:
        return f'{value:,.0f}'
    return f'{value:.{digits}g}'


def format_table(table: Table, style: str = 'text') -> str:
    """``table`` as text or Markdown (see the module docstring)."""
    if style not in STYLES:
        raise ValueError(f'style must be one of {STYLES}, not {style!r}')
    cells = [list(map(str, table.header))] + [
        list(map(str, row)) for row in table.rows]
    lines = []
    if table.title:
        lines += [f'### {table.title}' if style == 'markdown' else
                  table.title, '']
    if style == 'markdown':
        lines.append('| ' + ' | '.join(cells[0]) + ' |')
        lines.append('|' + '|'.join(['---'] + ['---:'] * (len(cells[0]) - 1))
                     + '|')
        lines += ['| ' + ' | '.join(row) + ' |' for row in cells[1:]]
        notes = [f'- {note}' for note in table.notes]
        return '\n'.join(lines + ([''] + notes if notes else []))
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]

    def line(row: Sequence[str]) -> str:
        return '  '.join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    lines += [line(cells[0]), '-' * len(line(cells[0]))]
    lines += [line(row) for row in cells[1:]]
    lines += [f'- {note}' for note in table.notes]
    return '\n'.join(lines)


def render(tables: Sequence[Table], style: str = 'text') -> str:
    """Several tables, a blank line between them."""
    return '\n\n'.join(format_table(t, style) for t in tables) + '\n'


def tables_json(tables: Sequence[Table]) -> List[dict]:
    """The tables as JSON-ready dicts (title, header, rows, notes)."""
    return [asdict(t) for t in tables]


def write_report(report: dict, tables: Sequence[Table], json_path: str,
                 md_path: str = '') -> None:
    """Write ``report`` (raw numbers, with the tables added under
    ``tables``) as JSON and, when ``md_path`` is given, the tables as
    Markdown; both atomically."""
    dump_json_atomic(dict(report, tables=tables_json(tables)), json_path)
    if md_path:
        write_bytes_atomic(render(tables, 'markdown').encode(), md_path)

