"""``import featsel`` is light: no hooks, cv2, mmcv ops or models; the
registries import their modules on demand (fresh subprocesses)."""
import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

HEAVY = ('cv2', 'mmcv.ops', 'featsel.engine', 'featsel.engine.hooks',
         'featsel.models', 'mmengine.runner', 'mmdet', 'mmseg')


def _loaded_after(code: str) -> dict:
    probe = (f'import sys\n{code}\nimport json\n'
             f'print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))')
    out = subprocess.run([sys.executable, '-c', probe], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_featsel_loads_nothing_heavy():
    loaded = _loaded_after('import featsel')
    assert not any(loaded.values()), {m for m, v in loaded.items() if v}


def test_registries_import_hooks_on_demand():
    code = ('import featsel\n'
            'from mmengine.registry import HOOKS, DefaultScope\n'
            'with DefaultScope.overwrite_default_scope("featsel"):\n'
            '    HOOKS.build(dict(type="PluginHook"))\n')
    loaded = _loaded_after(code)
    assert loaded['featsel.engine.hooks'] and loaded['featsel.models']
