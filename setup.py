"""Install featsel: ``pip install -e .`` (see tools/install.sh for mmcv)."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    """Read ``__version__`` from featsel/version.py without importing it."""
    with open(osp.join(HERE, 'featsel', 'version.py'), encoding='utf-8') as f:
        match = re.search(r"^__version__ = ['\"]([^'\"]+)['\"]", f.read(),
                          re.MULTILINE)
    if match is None:
        raise RuntimeError('featsel/version.py does not define __version__')
    return match.group(1)


def parse_requirements(fname: str) -> list:
    """Requirement lines of a requirements file, following ``-r`` includes."""
    requirements = []
    with open(osp.join(HERE, fname), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('-r '):
                included = osp.join(osp.dirname(fname), line[3:].strip())
                requirements.extend(parse_requirements(included))
            elif not line.startswith('-'):
                requirements.append(line)
    return requirements


def readme() -> str:
    path = osp.join(HERE, 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


if __name__ == '__main__':
    setup(
        name='featsel',
        version=get_version(),
        description='Feature-selection, token-sparsity and mixture-of-experts '
        'plug-ins for OpenMMLab vision models',
        long_description=readme(),
        long_description_content_type='text/markdown',
        packages=find_packages(exclude=(
            'configs', 'configs.*', 'tools', 'tools.*', 'tests', 'tests.*',
            'docs', 'docs.*', 'projects', 'projects.*')),
        include_package_data=True,
        python_requires='>=3.8',
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'tests': parse_requirements('requirements/tests.txt'),
            'all': parse_requirements('requirements.txt'),
        },
        classifiers=[
            'Programming Language :: Python :: 3',
            'Operating System :: POSIX :: Linux',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        zip_safe=False,
    )
