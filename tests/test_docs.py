"""Every ```python block of docs/ runs as written; relative links resolve.

Each block runs alone in a fresh interpreter (cwd = repository root,
``PYTHONPATH`` = repository root), so a block cannot lean on an import or a
registration made by another block. Text that is not meant to run uses
another fence language (```shell, ```text, ```none).
"""
import os
import os.path as osp
import re
import subprocess
import sys
from glob import glob
from typing import List, Tuple

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = osp.join(REPO_ROOT, 'docs')
# A block has to finish well inside this; the budget per block is a few
# seconds, most of it importing torch and the OpenMMLab libraries.
TIMEOUT_S = 120

_FENCE = re.compile(r'^(\s*)(`{3,}|~{3,})\s*([^\s`]*)')
_LINK = re.compile(r'\]\(([^)\s]+)\)')


def _doc_files() -> List[str]:
    return sorted(glob(osp.join(DOCS, '**', '*.md'), recursive=True))


def _blocks(path: str) -> List[Tuple[str, str, int]]:
    """``(language, code, first line number)`` of each fenced block."""
    blocks = []
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.groups()
        body, start = [], i + 1
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent)
                        else line)
            i += 1
        blocks.append((lang.lower(), '\n'.join(body) + '\n', start + 1))
        i += 1
    return blocks


def _python_blocks() -> List[Tuple[str, int, str, int]]:
    cases = []
    for path in _doc_files():
        rel = osp.relpath(path, DOCS)
        python = [(code, line) for lang, code, line in _blocks(path)
                  if lang == 'python']
        for index, (code, line) in enumerate(python):
            cases.append((rel, index, code, line))
    return cases


CASES = _python_blocks()


def test_docs_have_runnable_examples():
    assert _doc_files(), 'docs/ holds no Markdown file'
    assert CASES, 'docs/ holds no ```python block'


@pytest.mark.parametrize(
    'rel, index, code, line', CASES,
    ids=[f'{rel}::{index}' for rel, index, _, _ in CASES])
def test_python_block_runs(rel, index, code, line, tmp_path):
    script = tmp_path / f'block_{index}.py'
    script.write_text(code, encoding='utf-8')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1',
               MPLBACKEND='Agg')
    proc = subprocess.run([sys.executable, str(script)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 0, (
        f'docs/{rel}, python block {index} (line {line}) failed:\n'
        f'{code}\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n'
        f'{proc.stderr[-4000:]}')


def test_python_fences_are_spelt_python():
    """``py``/``python3``/``pycon`` fences would silently escape the run."""
    odd = [(osp.relpath(path, DOCS), line, lang)
           for path in _doc_files()
           for lang, _, line in _blocks(path)
           if lang in ('py', 'python3', 'py3', 'ipython')]
    assert not odd, f'write ```python (runs) or ```text (does not): {odd}'


def test_relative_links_resolve():
    broken = []
    for path in _doc_files():
        with open(path, encoding='utf-8') as f:
            text = f.read()
        # links inside fenced blocks are code, not links
        text = re.sub(r'```.*?```', '', text, flags=re.S)
        for target in _LINK.findall(text):
            if re.match(r'^[a-z]+:', target) or target.startswith('#'):
                continue
            file_part = target.split('#', 1)[0]
            resolved = osp.normpath(osp.join(osp.dirname(path), file_part))
            if not osp.exists(resolved):
                broken.append(f'{osp.relpath(path, DOCS)} -> {target}')
    assert not broken, 'broken links:\n' + '\n'.join(broken)
