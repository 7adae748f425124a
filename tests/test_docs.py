"""Every ```python block of docs/ runs as written; relative links resolve.

Each block runs alone in a child forked from an interpreter that has only
imported torch and the OpenMMLab libraries (cwd = repository root,
``PYTHONPATH`` = repository root), so a block cannot lean on an import or a
registration made by another block. Text that is not meant to run uses
another fence language (```shell, ```text, ```none).
"""
import json
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
# Per page; each block takes well under a second once torch is imported.
TIMEOUT_S = 300

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


def _python_blocks(path: str) -> List[Tuple[str, int]]:
    return [(code, line) for lang, code, line in _blocks(path)
            if lang == 'python']


# Runs the blocks of one page. The heavy libraries are imported once, then
# every block runs in its own forked child, so no block sees the imports or
# registrations (featsel's included) of another block.
_RUNNER = """
import json, os, sys
import torch, mmengine, mmcv, mmdet.models, mmseg.models  # noqa: F401
torch.set_num_threads(1)
blocks = json.load(open(sys.argv[1]))
failed = []
for index, (code, line) in enumerate(blocks):
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            exec(compile(code, f'block {index} (line {line})', 'exec'),
                 {'__name__': '__main__'})
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        sys.stdout.flush()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed.append(f'block {index} (line {line})')
if failed:
    print('FAILED: ' + ', '.join(failed), file=sys.stderr)
    sys.exit(1)
"""

PAGES = [p for p in _doc_files() if _python_blocks(p)]


def test_docs_have_runnable_examples():
    assert _doc_files(), 'docs/ holds no Markdown file'
    assert PAGES, 'docs/ holds no ```python block'


@pytest.mark.parametrize('page', PAGES,
                         ids=[osp.relpath(p, DOCS) for p in PAGES])
def test_python_blocks_run(page, tmp_path):
    blocks = tmp_path / 'blocks.json'
    blocks.write_text(json.dumps(_python_blocks(page)), encoding='utf-8')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1',
               MPLBACKEND='Agg')
    proc = subprocess.run(
        [sys.executable, '-c', _RUNNER, str(blocks)], cwd=REPO_ROOT,
        env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, (
        f'{osp.relpath(page, DOCS)}:\n--- stdout\n{proc.stdout[-2000:]}'
        f'\n--- stderr\n{proc.stderr[-4000:]}')


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
