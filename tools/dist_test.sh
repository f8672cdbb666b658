#!/usr/bin/env bash
# Distributed testing with torchrun: one process per GPU, or per CPU worker without CUDA
# (tools/test.py then uses the gloo backend).
#
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py options...]
#
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun. PYTHON selects the
# interpreter; unset, the active virtual environment's python, else the project's .venv (what
# `make setup` builds), else python from PATH.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [tools/test.py options...]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
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
  "$ROOT/tools/test.py" \
  "$CONFIG" \
  "$CHECKPOINT" \
  --launcher pytorch "$@"
