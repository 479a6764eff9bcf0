//! The static check inside the runner: every escape hatch of the issue is turned away with its
//! line and construct, and ordinary FreeCAD code passes.

use shared::job::OutputFormat;

use crate::helpers::runner_with;

#[tokio::test]
async fn escape_hatches_are_rejected_with_line_and_construct() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let cases = [
        ("import os\nos.system('true')\n", 1, "import of 'os'"),
        (
            "import Part\nimport subprocess\n",
            2,
            "import of 'subprocess'",
        ),
        ("from socket import socket\n", 1, "import of 'socket'"),
        ("import ctypes\n", 1, "import of 'ctypes'"),
        ("import importlib\n", 1, "import of 'importlib'"),
        ("import sys\n", 1, "import of 'sys'"),
        ("__import__('subprocess')\n", 1, "'__import__'"),
        ("x = 1\nexec('1')\n", 2, "'exec'"),
        ("eval('1')\n", 1, "'eval'"),
        ("compile('1', 'x', 'exec')\n", 1, "'compile'"),
        ("open('/tmp/escape', 'w')\n", 1, "'open'"),
        ("g = globals()\n", 1, "'globals'"),
        ("getattr(__builtins__, '__im' + 'port__')\n", 1, "'getattr'"),
        ("import Part\nPart.__dict__\n", 2, "'__dict__'"),
        ("x = ().__class__\n", 1, "'__class__'"),
        ("g = (i for i in [1])\nf = g.gi_frame\n", 2, "'gi_frame'"),
        (
            "import FreeCAD\nFreeCAD.export = None\n",
            2,
            "changing the module",
        ),
        ("from Part import *\n", 1, "import *"),
        ("s = '{0.__class__}'.format(1)\n", 1, "'__'"),
        ("exit(1)\n", 1, "'exit'"),
        ("from . import x\n", 1, "relative import"),
        ("def f(:\n", 1, "not valid Python"),
    ];
    for (script, line, construct) in cases {
        let error = runner
            .run(script, &[OutputFormat::Step])
            .await
            .expect_err(script);
        assert_eq!(error.code(), "script_rejected", "{script}: {error}");
        let message = error.to_string();
        assert!(
            message.contains(&format!("line {line}")),
            "{script}: {message}"
        );
        assert!(message.contains(construct), "{script}: {message}");
    }
}

#[tokio::test]
async fn ordinary_freecad_code_passes_the_check() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let script = "\
import math
import FreeCAD as App
import Part
from FreeCAD import Vector
from collections import namedtuple

Size = namedtuple('Size', 'x y z')


class Plate:
    def __init__(self, size):
        self.size = size

    def shape(self):
        return Part.makeBox(self.size.x, self.size.y, self.size.z)


doc = App.ActiveDocument
plate = Plate(Size(10, 20, 2)).shape()
hole = Part.makeCylinder(2, 2, Vector(5, 10, 0))
feature = doc.addObject('Part::Feature', 'Plate')
feature.Shape = plate.cut(hole)
angles = sorted(map(lambda a: math.radians(a), [30, 60]))
";
    let outcome = runner
        .run(script, &[OutputFormat::Step])
        .await
        .expect("ordinary code runs");
    let expected = 10.0 * 20.0 * 2.0 - std::f64::consts::PI * 4.0 * 2.0;
    assert!((outcome.geometry.volume - expected).abs() < 1e-6);
}
