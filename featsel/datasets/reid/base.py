"""Base of the aligned multi-modal re-identification data sets.

A sample is one person (or vehicle) seen at once by several aligned
cameras, one per modality (``'RGB'``, ``'NI'`` near infrared, ``'TI'``
thermal infrared). The public sets differ only in where the files lie and
how a file name spells the identity and the camera; a subclass says both
(:attr:`MultiModalReIDDataset.MODALITY_DIRS`, ``SPLITS``, ``NAME_PATTERN``,
:meth:`MultiModalReIDDataset.list_folder`), the base does the rest: it
parses the names, checks that every modality of every sample exists,
numbers the training identities and fills the sample dicts every
multi-modal pipeline reads.
"""
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset

from featsel.utils import ConfigError, DataError
from ..checks import require_dir, require_samples

#: Suffixes of the image files a folder listing keeps (lower case).
IMG_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')

#: What :meth:`MultiModalReIDDataset.list_folder` returns per sample: the
#: file name, the path of each modality and extra sample keys.
FolderItem = Tuple[str, Dict[str, str], dict]


@dataclass(frozen=True)
class SplitFolder:
    """One folder of a split and the role of its samples.

    Args:
        folder (str): Folder relative to ``data_root``.
        is_query (bool): Its samples are queries.
        is_gallery (bool): Its samples are gallery items.
    """

    folder: str
    is_query: bool = False
    is_gallery: bool = False


def aligned_files(modality_dirs: Mapping[str, str],
                  owner: str) -> List[FolderItem]:
    """The files found under the same name in every modality folder.

    Args:
        modality_dirs (Mapping[str, str]): Modality -> folder, in the order
            the sample keeps.
        owner (str): The data set type, for messages.

    Returns:
        list[tuple]: ``(name, {modality: path}, {})`` per name, sorted by
        name.

    Raises:
        DataError: If a folder does not exist (naming the folder and its
            modality), or a name lacks one of its modalities (naming the
            missing file and how many are missing).
    """
    names: Dict[str, set] = {}
    for modality, folder in modality_dirs.items():
        require_dir(folder, f'{owner}: {modality} modality folder')
        names[modality] = {
            f for f in os.listdir(folder)
            if f.lower().endswith(IMG_SUFFIXES)
        }
    every = sorted(set.union(*names.values()))
    missing = [
        osp.join(folder, name) for name in every
        for modality, folder in modality_dirs.items()
        if name not in names[modality]
    ]
    if missing:
        raise DataError(
            f'{owner}: modality image "{missing[0]}" does not exist, but '
            f'its name is in another modality folder ({len(missing)} such '
            'files missing); every modality needs the same file names')
    return [(name, {
        modality: osp.join(folder, name)
        for modality, folder in modality_dirs.items()
    }, {}) for name in every]


class MultiModalReIDDataset(BaseDataset):
    """Aligned multi-modal ReID samples read from a folder layout.

    Splits: ``'train'`` (identities numbered 0..P-1 in sorted order of
    their raw ids, so cross-entropy ID losses work) and ``'test'`` (queries
    and gallery items, labelled by their raw id). Which folders make a
    split and whether their samples are queries, gallery items or both is
    the subclass's ``SPLITS``.

    Each sample dict (``get_data_info``) holds:

    * ``img_paths`` (dict): modality -> file, in ``modalities`` order;
      ``img_path``: the first modality's file;
    * ``gt_label`` (int): contiguous label in ``'train'``, else ``pid``;
    * ``pid`` (int), ``camid`` (int, counted from 0);
    * ``is_query``, ``is_gallery`` (bool); ``modalities`` (tuple);
    * whatever the subclass's listing adds (e.g. ``sceneid``).

    ``metainfo`` holds ``modalities`` and ``num_classes`` (the number of
    identities of the split: the ID-loss classes for ``'train'``).

    Args:
        data_root (str): Root folder of the set.
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        modalities (Sequence[str]): Modalities to read, any non-empty
            subset of the keys of ``MODALITY_DIRS`` in any order (the order
            of the stacked channels). Defaults to ``('RGB', 'NI', 'TI')``.
        metainfo (dict, optional): Extra meta information. Defaults to
            None.
        indices (int | Sequence[int], optional): Keep only these samples
            (mmengine's ``BaseDataset``). Defaults to None.
        serialize_data (bool): Defaults to True.
        pipeline (list): Transforms. Defaults to ``[]``.
        test_mode (bool): Defaults to False.
        lazy_init (bool): Defaults to False.
        max_refetch (int): Defaults to 1000.

    Raises:
        ConfigError: For an unknown split or modality, an empty or repeated
            modality list.
        DataError: For a missing folder, a missing modality file, a file
            name that does not parse, or an empty split; the message names
            the folder or file.
    """

    #: Modality -> folder name (or tile, see :meth:`list_folder`).
    MODALITY_DIRS: Dict[str, str] = {}
    #: Split -> the folders that make it.
    SPLITS: Dict[str, Tuple[SplitFolder, ...]] = {}
    #: Pattern of a file name with the integer groups ``pid`` and
    #: ``camid``; any other group (e.g. ``sceneid``) becomes a sample key.
    NAME_PATTERN: re.Pattern
    #: A file name that parses, for messages.
    NAME_EXAMPLE: str
    #: Number of the first camera in file names (``camid`` counts from 0).
    FIRST_CAMERA: int = 1

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 modalities: Sequence[str] = ('RGB', 'NI', 'TI'),
                 metainfo: Optional[dict] = None,
                 indices: Optional[Sequence[int]] = None,
                 serialize_data: bool = True,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        owner = type(self).__name__
        if split not in self.SPLITS:
            raise ConfigError(f'{owner}: unknown split "{split}"; expected '
                              f'one of {tuple(self.SPLITS)}')
        if isinstance(modalities, str):
            modalities = (modalities, )
        modalities = tuple(modalities)
        unknown = [m for m in modalities if m not in self.MODALITY_DIRS]
        if not modalities or unknown:
            raise ConfigError(
                f'{owner}: modalities={modalities} must be a non-empty '
                f'subset of {tuple(self.MODALITY_DIRS)}' +
                (f'; unknown: {unknown[0]!r}' if unknown else ''))
        if len(set(modalities)) != len(modalities):
            raise ConfigError(
                f'{owner}: modalities={modalities} repeats a modality')
        self.split = split
        self.modalities = modalities
        metainfo = dict(metainfo or {}, modalities=modalities)
        super().__init__(
            metainfo=metainfo,
            data_root=data_root,
            indices=indices,
            serialize_data=serialize_data,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    def missing_root_hint(self) -> str:
        """A sentence added to the message of a missing split folder."""
        return ''

    def list_folder(self, folder: str) -> List[FolderItem]:
        """List the samples of one split folder.

        Args:
            folder (str): The split folder (``data_root`` joined).

        Returns:
            list[tuple]: ``(file name, {modality: path}, extra keys)`` per
            sample, modalities in ``self.modalities`` order.
        """
        raise NotImplementedError

    def parse_name(self, name: str, path: str) -> dict:
        """Identity, camera and other ids spelt by a file name.

        Args:
            name (str): File name.
            path (str): Its path, for messages.

        Returns:
            dict: ``pid``, ``camid`` (from 0) and any other group of
            ``NAME_PATTERN``, as integers.

        Raises:
            DataError: If the name does not match, naming the file.
        """
        match = self.NAME_PATTERN.match(name)
        if match is None:
            raise DataError(
                f'{type(self).__name__}: cannot read the identity and the '
                f'camera from the file name "{path}"; expected names like '
                f'"{self.NAME_EXAMPLE}" (pattern {self.NAME_PATTERN.pattern})')
        ids = {key: int(value) for key, value in match.groupdict().items()}
        ids['camid'] -= self.FIRST_CAMERA
        return ids

    def load_data_list(self) -> List[dict]:
        """List, parse and check every sample of the split.

        Returns:
            list[dict]: The sample dicts described in the class docstring.
        """
        owner = type(self).__name__
        data_list = []
        for part in self.SPLITS[self.split]:
            folder = osp.join(self.data_root, part.folder)
            require_dir(folder, f'{owner}: {self.split} split folder',
                        self.missing_root_hint())
            for name, paths, extra in self.list_folder(folder):
                first = paths[self.modalities[0]]
                info = self.parse_name(name, first)
                info.update(
                    img_paths=paths,
                    img_path=first,
                    is_query=part.is_query,
                    is_gallery=part.is_gallery,
                    modalities=self.modalities,
                    **extra)
                data_list.append(info)
        folders = ', '.join(
            osp.join(self.data_root, p.folder)
            for p in self.SPLITS[self.split])
        require_samples(data_list, f'{owner} {self.split} split ({folders})',
                        'no image file found')
        pids = sorted({info['pid'] for info in data_list})
        label = {pid: i for i, pid in enumerate(pids)}
        for info in data_list:
            info['gt_label'] = (
                label[info['pid']] if self.split == 'train' else info['pid'])
        self._metainfo['num_classes'] = len(pids)
        return data_list
