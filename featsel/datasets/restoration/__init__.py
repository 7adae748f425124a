"""Paired restoration data (S3): the ``meta.jsonl`` protocol and its data
set, the synthetic demo set, and the data checks (perceptual-hash
de-duplication, alignment by phase correlation, severity estimators)."""
from .alignment import check_alignment, estimate_shift
from .dataset import PairedRestorationDataset
from .degradations import add_haze, add_rain, add_snow
from .demo import DEMO_RESTORATION, make_demo_restoration
from .demo_dataset import DemoRestorationDataset
from .meta import (DEGRADATION_TASKS, META_FIELDS, REQUIRED_FIELDS,
                   read_meta, write_meta)
from .phash import hamming, near_duplicate_pairs, phash, phash_hex
from .scenes import make_scene
from .severity import (SEVERITY_ESTIMATORS, haze_severity, rain_severity,
                       snow_severity)

__all__ = [
    'DEGRADATION_TASKS', 'DEMO_RESTORATION', 'DemoRestorationDataset',
    'META_FIELDS', 'PairedRestorationDataset', 'REQUIRED_FIELDS',
    'SEVERITY_ESTIMATORS', 'add_haze', 'add_rain', 'add_snow',
    'check_alignment', 'estimate_shift', 'hamming', 'haze_severity',
    'make_demo_restoration', 'make_scene', 'near_duplicate_pairs', 'phash',
    'phash_hex', 'rain_severity', 'read_meta', 'snow_severity', 'write_meta'
]
