"""What a student has after installing only the wheel: no Graphviz, no matplotlib, no cairosvg.

A fresh interpreter runs README's drawing lines and draws every lecture circuit at every backward
step with `dot` absent from the PATH and matplotlib and cairosvg unimportable (a meta-path
finder refuses them), then reports each SVG's width, font sizes and highlighted gate.
"""

import json
import pathlib
import re
import subprocess
import sys

TESTS = pathlib.Path(__file__).resolve().parent
README = TESTS.parent / "README.md"

SCRIPT = r"""
import importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("matplotlib", "cairosvg"):
            raise ModuleNotFoundError(f"No module named {name!r} (refused: a wheel-only venv)", name=name)
        return None

sys.meta_path.insert(0, Refuse())
sys.path.insert(0, sys.argv[1])
import numpy as np
import gatelab as gl
from lecture_circuits import CIRCUITS, svg_facts

namespace = {"np": np, "gl": gl}
exec(sys.argv[2], namespace)
picture = namespace["picture"]
report = {"readme": [picture.engine, *svg_facts(picture.svg)], "drawings": {}}
picture.save(sys.argv[3] + "/step.svg")
try:
    picture.save(sys.argv[3] + "/step.png")
    report["png_error"] = None
except Exception as err:
    report["png_error"] = f"{type(err).__name__}: {err}"
for name, make in CIRCUITS.items():
    g, out = make()
    for step in [None, *range(len(g.backward_steps(out)))]:
        d = g.draw(out, step=step)
        report["drawings"][f"{name} step={step}"] = [d.engine, *svg_facts(d.svg)]
report["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "cairosvg"))
print(json.dumps(report))
"""


def readme_drawing_block():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    drawing = [b for b in blocks if ".draw(" in b]
    assert len(drawing) == 1, "README should show drawing in one python block"
    return drawing[0]


def test_readme_drawing_lines_and_every_lecture_drawing_with_nothing_installed(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()   # PATH: no dot, no rsvg-convert
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(TESTS), readme_drawing_block(), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env={"PATH": str(empty), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["imported"] == []
    engine, width, height, fonts, current = report["readme"]
    assert engine == "svg" and width <= 1000 and min(fonts) >= 12 and current == 1
    assert (tmp_path / "step.svg").read_text().startswith("<svg")
    # PNG needs a renderer: the error says which ones would do, and .svg needs none
    assert report["png_error"].startswith("NoRenderer") and "pip install cairosvg" in report["png_error"]
    assert "apt-get install graphviz" in report["png_error"] and ".svg" in report["png_error"]
    assert len(report["drawings"]) > 50
    for what, (engine, width, height, fonts, current) in report["drawings"].items():
        assert engine == "svg", what
        assert width <= 1000, f"{what}: {width:.0f} px wide"
        assert min(fonts) >= 12, f"{what}: {min(fonts)} px text"
        assert current == ("step=None" not in what), what
