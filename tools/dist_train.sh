#!/usr/bin/env bash
# Distributed training with torchrun: one process per GPU, or per CPU worker without CUDA
# (tools/train.py then uses the gloo backend).
#
#   tools/dist_train.sh CONFIG GPUS [tools/train.py options...]
#
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun. PYTHON selects the
# interpreter; unset, the active virtual environment's python, else the project's .venv (what
# `make setup` builds), else python from PATH.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG GPUS [tools/train.py options...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/python_env.sh
source "$ROOT/tools/python_env.sh"

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
  --nnodes="$NNODES" \
  --node_rank="$NODE_RANK" \
  --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$GPUS" \
  --master_port="$PORT" \
  "$ROOT/tools/train.py" \
  "$CONFIG" \
  --launcher pytorch "$@"
