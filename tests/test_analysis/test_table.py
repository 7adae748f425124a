"""The one table formatter."""
import json

import pytest

from featsel.analysis.table import (Table, format_table, number, render,
                                    write_report)

TABLE = Table(['model', 'GFLOPs', 'ms'], [['a', '1.50', 12], ['bb', 20, 3]],
              title='costs', notes=['FLOPs: 2 per multiply-add'])


def test_text_aligns_columns():
    assert format_table(TABLE).splitlines() == [
        'costs', '',
        'model  GFLOPs  ms',
        '-----------------',
        'a        1.50  12',
        'bb         20   3',
        '- FLOPs: 2 per multiply-add']


def test_markdown_table():
    assert format_table(TABLE, 'markdown').splitlines() == [
        '### costs', '',
        '| model | GFLOPs | ms |',
        '|---|---:|---:|',
        '| a | 1.50 | 12 |',
        '| bb | 20 | 3 |',
        '',
        '- FLOPs: 2 per multiply-add']
    with pytest.raises(ValueError, match='style'):
        format_table(TABLE, 'html')


def test_numbers():
    assert [number(v) for v in (None, 1234.5, 7, 0.123456, 12.34)] == [
        '-', '1,234', '7', '0.123', '12.3']


def test_report_json_and_markdown(tmp_path):
    json_path, md_path = tmp_path / 'r.json', tmp_path / 'r.md'
    write_report(dict(x=1), [TABLE], str(json_path), str(md_path))
    report = json.loads(json_path.read_text())
    assert report['x'] == 1
    assert report['tables'][0]['header'] == TABLE.header
    assert md_path.read_text() == render([TABLE], 'markdown')
