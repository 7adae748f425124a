# Entry points: `make demo` trains the demo model, `make test` runs the tests.
# Both first run tools/install.sh, which sets up the virtualenv (FEATSEL_VENV,
# else the active VIRTUAL_ENV, else .venv) and returns at once when it is
# already complete.
VENV ?= $(or $(FEATSEL_VENV),$(VIRTUAL_ENV),.venv)
VENV_PYTHON := $(VENV)/bin/python
# Recipes run as if the virtualenv were active, so that scripts calling
# `python` (tools/dist_train.sh, ...) get the same interpreter.
export PATH := $(abspath $(VENV))/bin:$(PATH)
DEMO_DATA ?= data/demo_lesions
DEMO_CONFIG ?= configs/e6_patchgate.py

.PHONY: install demo test

install:
	FEATSEL_VENV="$(VENV)" bash tools/install.sh

demo: install
	@if [ ! -d "$(DEMO_DATA)" ]; then $(VENV_PYTHON) tools/misc/make_demo_data.py; fi
	$(VENV_PYTHON) tools/train.py $(DEMO_CONFIG)

test: install
	$(VENV_PYTHON) -m pytest tests -q

# `make compare`: train the baseline and E1-E6 briefly on the demo data and
# write one comparison table (ITERS=... sets the iterations per run; see
# tools/analysis_tools/run_s1_experiments.sh for the other settings).
.PHONY: compare
compare: install
	PYTHON="$(VENV_PYTHON)" bash tools/analysis_tools/run_s1_experiments.sh

# `make demo-dset`: train DSET-R18 (token pruning + encoder and decoder MoE)
# on the demo shapes set, written under data/demo_shapes on first use.
# `make dset-costs`: FLOPs per part, params and latency of the S4 configs
# (DEVICE=cuda to measure on a GPU).
DEVICE ?= cpu
.PHONY: demo-dset dset-costs
demo-dset: install
	$(VENV_PYTHON) tools/train.py configs/dset/dset_r18.py

dset-costs: install
	$(VENV_PYTHON) tools/analysis_tools/dset_costs.py configs/dset/rtdetr_r18.py \
		configs/dset/rtdetr_r18_prune.py configs/dset/rtdetr_r18_moe.py \
		configs/dset/dset_r18.py --device $(DEVICE) --out-dir work_dirs/dset_costs/r18
	$(VENV_PYTHON) tools/analysis_tools/dset_costs.py configs/dset/rtdetr_r50.py \
		configs/dset/dset_r50.py --device $(DEVICE) --out-dir work_dirs/dset_costs/r50

# `make demo-reid-data`: write the synthetic RGB/NIR/TIR ReID set in the
# RGBNT201 layout under data/demo_rgbnt201 (RGBNT201Dataset also writes it
# on first use there).
.PHONY: demo-reid-data
demo-reid-data: install
	$(VENV_PYTHON) tools/misc/make_demo_data.py --set rgbnt201

# `make demo-reid`: train the SDTPS ReID config (tiny ViT shared by RGB, NIR
# and TIR, token selection per modality) on the demo RGBNT201 set, written
# under data/demo_rgbnt201 on first use; mAP / R1 are logged at every
# evaluation and kept in work_dirs/sdtps_vit_tiny_demo/eval_results.json.
.PHONY: demo-reid
demo-reid: install
	$(VENV_PYTHON) tools/train.py configs/reid/sdtps_vit_tiny_demo.py

# `make demo-restoration`: the S3 chain on the demo restoration set (written
# under data/demo_restoration on first use), about 5 minutes on an idle
# two-core CPU: dense-unified model, the dehaze / derain / desnow experts
# from its checkpoint, tests, the comparison table (work_dirs/s3_demo/
# seed_0/restoration_experts.md) and the 4K image restored tiled with Hann
# blending (SEED=... for another seed).
.PHONY: demo-restoration
demo-restoration: install
	PYTHON="$(VENV_PYTHON)" bash tools/analysis_tools/run_s3_demo.sh

# `make moe-i`: the MoE-I chain of S3 on the demo set, after `make
# demo-restoration` (its experts in work_dirs/s3_demo/seed_0): utility
# labels, routers (beta 20 / 50 / 80 and a local one), choice of beta and
# calibration, MoE-I evaluation in every mode, report and pictures under
# work_dirs/moe_i_demo/report (see docs/user_guides/moe_i.md).
.PHONY: moe-i
moe-i: install
	PYTHON="$(VENV_PYTHON)" bash tools/analysis_tools/run_moe_i_demo.sh
