from .demo_coco_dataset import DemoShapesCocoDataset
from .demo_lesions import make_demo_lesions
from .demo_shapes_coco import (DEMO_SHAPES_CLASSES, ensure_demo_shapes_coco,
                               make_demo_shapes_coco)
from .lesion_dataset import LesionSegDataset
from .transforms import (GenerateBoundary, GenerateSDF, PackMultiTaskInputs,
                         binary_mask)

__all__ = [
    'DEMO_SHAPES_CLASSES', 'DemoShapesCocoDataset', 'GenerateBoundary',
    'GenerateSDF', 'LesionSegDataset', 'PackMultiTaskInputs', 'binary_mask',
    'ensure_demo_shapes_coco', 'make_demo_lesions', 'make_demo_shapes_coco'
]
