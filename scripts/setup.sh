#!/usr/bin/env bash
# Create .venv (if needed) with the tested, pinned versions. Idempotent: a stamp file records the
# hash of pyproject.toml + constraints.txt, and set-up is skipped while it matches.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
stamp="$VENV/.ai4m-setup"
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "== setting up $VENV (python: $($PY --version))"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first, exactly pinned: on these machines 2.13.0 is a local CPU wheel; any other request
# would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q -c constraints.txt "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[notebooks,test,report,scale,umap,vmaf]"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "$want" > "$stamp"
