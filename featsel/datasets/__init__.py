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
    'make_demo_shapes_coco', 'prepare_demo_root', 'write_demo_set'
]
