from .calibration import (calibrate, expected_calibration_error,
                          fit_temperature, read_calibration, search_threshold,
                          write_calibration)
from .functional import boundary_scores, dice, iou, mean_absolute_error
from .metrics import MultiTaskSegMetric
from .restoration import image_quality, psnr, ssim
from .routing import (DENSE, forced_misroute, route_dense, route_moe_actual,
                      route_oracle, routing_summary, top2_weights)
from .statistics import (bootstrap_ci, cohens_dz, hmean_psnr_nlpips,
                         macro_bootstrap_ci, paired_ttest)

__all__ = [
    'MultiTaskSegMetric', 'boundary_scores', 'dice', 'iou',
    'mean_absolute_error', 'bootstrap_ci', 'cohens_dz', 'hmean_psnr_nlpips',
    'image_quality', 'macro_bootstrap_ci', 'paired_ttest', 'psnr', 'ssim',
    'calibrate', 'expected_calibration_error', 'fit_temperature',
    'read_calibration', 'search_threshold', 'write_calibration', 'DENSE',
    'forced_misroute', 'route_dense', 'route_moe_actual', 'route_oracle',
    'routing_summary', 'top2_weights'
]
