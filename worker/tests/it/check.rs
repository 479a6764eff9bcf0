//! The static check inside the runner: every escape hatch of the issue is turned away with its
//! line and construct, and ordinary FreeCAD code passes.

use shared::error_code::ErrorCode;
use shared::job::OutputFormat;

use e2e::through_freecad_importer;

use crate::helpers::runner_with;

#[tokio::test]
async fn escape_hatches_are_rejected_with_line_and_construct() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let importer = through_freecad_importer("true");
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
        // Modules and builtins that turn strings into code.
        ("import typing\n", 1, "import of 'typing'"),
        (
            "from functools import singledispatch\n",
            1,
            "import of 'functools'",
        ),
        ("import string\n", 1, "import of 'string'"),
        ("x: 'exec(P, {})' = 1\n", 1, "string annotation"),
        ("def f(a: 'x'):\n    pass\n", 1, "string annotation"),
        ("def f() -> 'x':\n    pass\n", 1, "string annotation"),
        ("t = '{0}'\ns = t.format(1)\n", 2, "literal template"),
        ("s = str.format('{0}', 1)\n", 1, "literal template"),
        (
            "m = {}\ns = ('{a}' + '').format_map(m)\n",
            2,
            "literal template",
        ),
        // Aliasing a module to rewire it.
        (
            "import Part\nm = Part\nm.export = None\n",
            3,
            "changing the module",
        ),
        (
            "from BOPTools import SplitFeatures\nSplitFeatures.x = 1\n",
            2,
            "changing the module",
        ),
        // FreeCAD's preference and importer side doors.
        (importer.as_str(), 3, "'ParamGet'"),
        (
            "import FreeCAD as App\nApp.loadFile('a.dwg')\n",
            2,
            "'loadFile'",
        ),
        (
            "import FreeCAD as App\nApp.openDocument('a.FCStd')\n",
            2,
            "'openDocument'",
        ),
    ];
    for (script, line, construct) in cases {
        let error = runner
            .run(script, &[OutputFormat::Step])
            .await
            .expect_err(script);
        assert_eq!(error.code(), ErrorCode::ScriptRejected, "{script}: {error}");
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

#[tokio::test]
async fn a_module_reached_past_the_check_still_cannot_be_changed() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    for script in [
        "import Part\nmodules = [Part]\nmodules[0].export = None\n",
        "import Part\ndef patch(m):\n    m.export = None\npatch(Part)\n",
        "import math\nbox = {'m': math}\nbox['m'].pi = 3\n",
    ] {
        let error = runner
            .run(script, &[OutputFormat::Step])
            .await
            .expect_err(script);
        assert_eq!(
            error.code(),
            ErrorCode::ExecutionFailed,
            "{script}: {error}"
        );
        assert!(
            error.to_string().contains("may not change the module"),
            "{script}: {error}"
        );
    }
}

#[tokio::test]
async fn a_literal_template_and_plain_annotations_still_pass() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let script = "\
import FreeCAD as App
import Part
width: float = 10.0
def size(x: float) -> float:
    return x * 2
label = '{0} mm'.format(size(width))
App.ActiveDocument.addObject('Part::Feature', 'Plate').Shape = Part.makeBox(width, 5, 1)
";
    runner
        .run(script, &[OutputFormat::Step])
        .await
        .expect("ordinary code runs");
}
