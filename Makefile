# mmmobile developer commands. `make test` and `make demo` set everything up first (see README).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export OMP_WAIT_POLICY := PASSIVE
export PYTHONDONTWRITEBYTECODE := 1
DEMO_DATA ?= data/demo
DEMO_WORK_DIR ?= work_dirs/demo
DEMO_CONFIG ?= configs/demo/mask-rcnn_repvit-m0.9_fpn_demo-coco.py

.PHONY: setup test demo demo-data clean help

help:
	@echo "make test   set up .venv (first run ~15 min: builds mmcv) and run the test suite"
	@echo "make demo   set up, make demo data, train RepViT Mask R-CNN on CPU, evaluate, fuse, export end to end to ONNX, evaluate it in onnxruntime"
	@echo "make setup  only set up .venv"

setup:
	@bash tools/setup_env.sh

test: setup
	$(PY) -m pytest tests -q -rs -p no:cacheprovider

demo-data: setup
	$(PY) tools/make_demo_data.py --out $(DEMO_DATA) --no-progress

demo: demo-data
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_WORK_DIR)
	$(PY) tools/test.py $(DEMO_CONFIG) $$(cat $(DEMO_WORK_DIR)/last_checkpoint) --work-dir $(DEMO_WORK_DIR)/test
	$(PY) tools/fuse_ckpt.py $(DEMO_CONFIG) $$(cat $(DEMO_WORK_DIR)/last_checkpoint) $(DEMO_WORK_DIR)/fused --overwrite
	$(PY) tools/test.py $(DEMO_WORK_DIR)/fused/deploy_config.py $(DEMO_WORK_DIR)/fused/fused.pth --work-dir $(DEMO_WORK_DIR)/fused/test
	$(PY) tools/deploy.py $(DEMO_CONFIG) $$(cat $(DEMO_WORK_DIR)/last_checkpoint) --out $(DEMO_WORK_DIR)/deploy --format onnx --shape 256 256 --overwrite
	$(PY) tools/test.py $(DEMO_CONFIG) $(DEMO_WORK_DIR)/deploy/model.onnx --work-dir $(DEMO_WORK_DIR)/onnx_test
	$(PY) tools/compare_metrics.py pytorch=$(DEMO_WORK_DIR)/test onnxruntime=$(DEMO_WORK_DIR)/onnx_test

clean:
	rm -rf $(DEMO_WORK_DIR) .pytest_cache
