"""Fail if any notebook under the given folders is committed with outputs or execution counts."""

import json
import pathlib
import sys

bad = []
for folder in sys.argv[1:] or ["notebooks"]:
    for path in sorted(pathlib.Path(folder).glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        if any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code"):
            bad.append(str(path))
if bad:
    sys.exit("notebooks with stored outputs (run `nbstripout notebooks/*.ipynb`):\n  " + "\n  ".join(bad))
print("notebooks are stripped")
