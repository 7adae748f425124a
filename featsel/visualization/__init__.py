from .multitask_visualizer import MultiTaskSegVisualizer

__all__ = ['MultiTaskSegVisualizer']
