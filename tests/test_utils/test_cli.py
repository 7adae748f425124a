import argparse

import pytest

from featsel.utils.cli import add_bootstrap_args, bootstrap_kwargs, parse_shape


def test_parse_shape_reads_height_by_width():
    assert parse_shape('640x480') == (640, 480)
    assert parse_shape('2160X3840') == (2160, 3840)
    for bad in ('640', '640x', 'ax4', '1x2x3'):
        with pytest.raises(argparse.ArgumentTypeError, match=bad):
            parse_shape(bad)


def test_bad_shape_is_a_one_line_usage_error(capsys):
    parser = argparse.ArgumentParser(prog='tool')
    parser.add_argument('--shape', type=parse_shape)
    with pytest.raises(SystemExit):
        parser.parse_args(['--shape', '64by64'])
    assert 'a shape is HxW such as 640x640, got "64by64"' in (
        capsys.readouterr().err)


def test_bootstrap_options_round_trip():
    parser = argparse.ArgumentParser()
    add_bootstrap_args(parser)
    assert bootstrap_kwargs(parser.parse_args([])) == dict(
        n_resamples=10000, confidence=0.95, seed=0)
    args = parser.parse_args(['--n-resamples', '200', '--confidence', '0.9',
                              '--seed', '3'])
    assert bootstrap_kwargs(args) == dict(n_resamples=200, confidence=0.9,
                                          seed=3)
