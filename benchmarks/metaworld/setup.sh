#!/usr/bin/env bash
# Build .venv-metaworld: Meta-World 3.1.1 with its mujoco 3.3.0, torch, LeRobot, and simreal installed
# without its mujoco>=4 dependency so that simreal.policies / simreal.train import there.
# Usage: bash benchmarks/metaworld/setup.sh [PYTHON3.12]   (from anywhere; paths are repo-relative)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=benchmarks/metaworld
venv=${METAWORLD_VENV:-.venv-metaworld}
python=${1:-}
if [ -z "$python" ]; then
  python=$(ls -d "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1 || true)
  python=${python:-$(command -v python3.12 || true)}
fi
stamp=$venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt $here/requirements.txt ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
[ -n "$python" ] || { echo "Python 3.12 not found (pyenv install 3.12 or apt install python3.12)"; exit 1; }
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r $here/requirements.txt
"$venv/bin/python" -m pip install -q --no-deps -e .
MUJOCO_GL=egl "$venv/bin/python" - <<'PY'
import metaworld, mujoco
import simreal.policies, simreal.train  # noqa: F401  (must import without mujoco 4)
assert mujoco.__version__ == "3.3.0", mujoco.__version__
print(f"metaworld venv ready: mujoco {mujoco.__version__}")
PY
touch "$stamp"
