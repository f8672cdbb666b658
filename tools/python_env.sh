# Sourced by the launcher scripts: sets PYTHON when the caller did not. Order: $PYTHON, the
# active virtual environment's python, the project's .venv (what `make setup` builds), python.
# Needs ROOT (the repository root) to be set.
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
    PYTHON="$VIRTUAL_ENV/bin/python"
  elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    PYTHON="$ROOT/.venv/bin/python"
  else
    PYTHON=python
  fi
fi
