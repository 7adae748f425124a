from .coco_dataset import CheckedCocoDataset
from .demo_coco_dataset import DemoShapesCocoDataset
from .demo_data import (DemoSet, ensure_demo_set, prepare_demo_root,
                        write_demo_set)
from .demo_lesion_dataset import DemoLesionSegDataset
from .demo_lesions import DEMO_LESIONS, make_demo_lesions
from .demo_shapes_coco import (DEMO_SHAPES, DEMO_SHAPES_CLASSES,
                               ensure_demo_shapes_coco,
                               make_demo_shapes_coco)
from .lesion_dataset import LesionSegDataset
from .reid import (DEMO_RGBNT201, MSVR310Dataset, MultiModalReIDDataset,
                   RGBNT100Dataset, RGBNT201Dataset)
from .restoration import (DEMO_RESTORATION, DemoRestorationDataset,
                          PairedRestorationDataset, make_demo_restoration)
from .router_labels import RouterLabelsDataset, read_labels
from .samplers import IdentityBalancedSampler
from .transforms import (CheckedLoadAnnotations, CheckedLoadImageFromFile,
                         GenerateBoundary, GenerateSDF, PackMultiTaskInputs,
                         binary_mask)

__all__ = [
    'CheckedCocoDataset', 'CheckedLoadAnnotations',
    'CheckedLoadImageFromFile', 'DEMO_LESIONS', 'DEMO_SHAPES',
    'DEMO_SHAPES_CLASSES', 'DemoLesionSegDataset', 'DemoSet',
    'DemoShapesCocoDataset', 'GenerateBoundary', 'GenerateSDF',
    'LesionSegDataset', 'PackMultiTaskInputs', 'binary_mask',
    'ensure_demo_set', 'ensure_demo_shapes_coco', 'make_demo_lesions',
    'make_demo_shapes_coco', 'prepare_demo_root', 'write_demo_set',
    'DEMO_RGBNT201', 'IdentityBalancedSampler', 'MSVR310Dataset',
    'MultiModalReIDDataset', 'RGBNT100Dataset', 'RGBNT201Dataset',
    'DEMO_RESTORATION', 'DemoRestorationDataset', 'PairedRestorationDataset',
    'make_demo_restoration', 'RouterLabelsDataset', 'read_labels'
]
