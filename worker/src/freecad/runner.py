# Runs design scripts inside one FreeCAD process, one job at a time, then measures and exports
# what each made. The worker starts it inside the sandbox and talks to it line by line:
# a job as one JSON line on stdin, the answer as one marked JSON line on the original stdout.
# FreeCAD's and the script's own output go to the job's freecad.log, never to the answers.
#
# Environment (set by the worker): DESIGNER_RUNNER_DIR (this file's folder, for check.py),
# DESIGNER_LIMITS (JSON: cpu_seconds, memory_bytes, file_size_bytes, processes, max_jobs).
import builtins
import json
import os
import resource
import sys
import traceback

sys.path.insert(0, os.environ["DESIGNER_RUNNER_DIR"])

import check  # noqa: E402

import FreeCAD as App  # noqa: E402
import Part  # noqa: E402
import Mesh  # noqa: E402

ANSWER_MARK = "@@designer@@ "


def apply_limits(limits):
    """Process-wide limits, set before any model code runs; forks inherit them."""
    cpu = limits["cpu_seconds"]
    # CPU time adds up over a warm process's life: the hard limit covers every job it may run,
    # each job gets its own soft budget on top of what was used before (see `cpu_budget`).
    cpu_hard = cpu * (limits["max_jobs"] + 1) + 60
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (limits["file_size_bytes"], limits["file_size_bytes"])
    )
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def cpu_budget(seconds):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (min(used + seconds, hard), hard))


def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    """The script's `__import__`: the allow-list again, at run time, behind the static check."""
    if level != 0 or name.split(".")[0] not in check.ALLOWED_MODULES:
        raise ImportError(f"import of '{name}' is not allowed")
    return builtins.__import__(name, globals, locals, fromlist, level)


def safe_builtins():
    table = {
        name: value
        for name, value in vars(builtins).items()
        if name not in check.FORBIDDEN_NAMES and not name.startswith("_")
    }
    table["__import__"] = guarded_import
    table["__build_class__"] = builtins.__build_class__
    return table


def top_level_objects(doc):
    """Objects with a shape that no other object uses (the parts a person would see)."""
    return [
        obj
        for obj in doc.Objects
        if hasattr(obj, "Shape") and not obj.InList and not obj.Shape.isNull()
    ]


def centre_of_mass(shapes):
    total = 0.0
    weighted = App.Vector(0, 0, 0)
    for shape in shapes:
        for solid in shape.Solids:
            weighted += solid.CenterOfMass * solid.Volume
            total += solid.Volume
    if total <= 0:
        return None
    centre = weighted * (1.0 / total)
    return [centre.x, centre.y, centre.z]


def tight_bounding_box(shape):
    """`BoundBox` pads curved faces (about 8 % on a torus); the optimal box is exact."""
    try:
        return shape.optimalBoundingBox()
    except Exception:
        return shape.BoundBox


def measure(shapes):
    shape = shapes[0] if len(shapes) == 1 else Part.makeCompound(shapes)
    box = tight_bounding_box(shape)
    return {
        "valid": all(s.isValid() for s in shapes),
        "solids": sum(len(s.Solids) for s in shapes),
        "shells": sum(len(s.Shells) for s in shapes),
        "faces": sum(len(s.Faces) for s in shapes),
        "edges": sum(len(s.Edges) for s in shapes),
        "volume": sum(s.Volume for s in shapes),
        "area": sum(s.Area for s in shapes),
        "bbox": [box.XLength, box.YLength, box.ZLength],
        "bbox_min": [box.XMin, box.YMin, box.ZMin],
        "bbox_max": [box.XMax, box.YMax, box.ZMax],
        "center_of_mass": centre_of_mass(shapes),
    }


def snapshot(doc, top_level):
    """Every object with what identifies its state, for the diff between iterations."""
    names = {obj.Name for obj in top_level}
    objects = []
    for obj in doc.Objects:
        entry = {"name": obj.Name, "type": obj.TypeId, "label": obj.Label, "top_level": obj.Name in names}
        shape = getattr(obj, "Shape", None)
        if shape is not None and not shape.isNull():
            box = shape.BoundBox
            entry["volume"] = round(shape.Volume, 6)
            entry["area"] = round(shape.Area, 6)
            entry["bbox"] = [round(v, 6) for v in (box.XMin, box.YMin, box.ZMin, box.XMax, box.YMax, box.ZMax)]
        objects.append(entry)
    return objects


def export(doc, objects, outputs, tessellation):
    for fmt, path in outputs.items():
        if fmt == "step":
            Part.export(objects, path)
        elif fmt == "stl":
            write_tessellation(objects, path, tessellation)
        elif fmt == "fcstd":
            doc.saveAs(path)


def write_tessellation(objects, path, tessellation):
    """The result's one tessellation, as a binary STL. The worker derives every other mesh
    format and the thumbnail from this file, so they all share these triangles; the
    deflections are stated (MESH_LINEAR_DEFLECTION in mm, MESH_ANGULAR_DEFLECTION in
    radians), not left to FreeCAD's preferences."""
    import MeshPart

    mesh = Mesh.Mesh()
    for obj in objects:
        mesh.addMesh(
            MeshPart.meshFromShape(
                Shape=obj.Shape,
                LinearDeflection=tessellation["linear_deflection"],
                AngularDeflection=tessellation["angular_deflection"],
                Relative=False,
            )
        )
    mesh.write(path)


def failure(code, error, **extra):
    return dict(ok=False, code=code, error=error, **extra)


def script_line(tb):
    lines = [frame.lineno for frame in traceback.extract_tb(tb) if frame.filename == "design.py"]
    return lines[-1] if lines else None


def run_script(job, limits):
    with open(job["script"]) as f:
        source = f.read()
    try:
        tree = check.check(source)
    except check.Rejected as rejected:
        return failure(
            "script_rejected",
            f"the script was rejected at line {rejected.line}: {rejected.construct}",
            line=rejected.line,
            construct=rejected.construct,
        )
    except SyntaxError as error:
        return failure(
            "script_rejected",
            f"the script is not valid Python at line {error.lineno}: {error.msg}",
            line=error.lineno,
            construct="syntax error",
        )

    doc = App.newDocument("Design")
    App.setActiveDocument(doc.Name)
    namespace = {"__name__": "__design__", "__builtins__": safe_builtins()}
    cpu_budget(limits["cpu_seconds"])
    try:
        exec(compile(tree, "design.py", "exec"), namespace)
        doc.recompute()
    except MemoryError:
        # The heap of a process that hit its address-space limit is not trusted for the next job.
        return failure(
            "memory_exceeded",
            f"the script ran out of memory (limit {limits['memory_bytes'] // (1024 * 1024)} MiB)",
            fatal=True,
        )
    except BaseException as error:  # noqa: B036 - SystemExit and KeyboardInterrupt included
        last = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()
        message = last[-1] if last else type(error).__name__
        line = script_line(error.__traceback__)
        where = f" (design.py line {line})" if line else ""
        return failure(
            "execution_failed",
            f"{message}{where}",
            line=line,
            traceback=traceback.format_exc()[-4000:],
        )

    top_level = top_level_objects(doc)
    objects = snapshot(doc, top_level)
    shapes = [obj.Shape for obj in top_level]
    solids = sum(len(s.Solids) for s in shapes)
    if solids == 0:
        return failure(
            "no_geometry",
            f"the script made no solid ({len(doc.Objects)} objects, {len(shapes)} top-level shapes)",
            objects=objects,
        )
    result = {
        "ok": True,
        "top_level": [obj.Name for obj in top_level],
        "objects": objects,
        "geometry": measure(shapes),
    }
    try:
        export(doc, top_level, job["outputs"], job["tessellation"])
    except Exception as error:
        return failure("execution_failed", f"the export failed: {error}")
    return result


def stray_processes():
    """Processes the job left behind: anything else in our pid namespace (bubblewrap), or in
    our process group (rlimits only). A script must not leave anything running."""
    me = os.getpid()
    in_namespace = me < 10
    group = os.getpgid(0)
    strays = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (me, 1):
            continue
        if in_namespace:
            strays += 1
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            strays += 1
    return strays


def run_job(job, limits, answers_err):
    os.chdir(job["dir"])
    log = os.open("freecad.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    try:
        result = run_script(job, limits)
        strays = stray_processes()
        if strays:
            return failure(
                "execution_failed",
                f"the script left {strays} processes running; they were stopped",
                fatal=True,
            )
        return result
    except MemoryError:
        return failure("memory_exceeded", "FreeCAD ran out of memory", fatal=True)
    except BaseException as error:  # noqa: B036
        return failure("execution_failed", f"the runner failed: {error!r}", fatal=True)
    finally:
        for name in list(App.listDocuments()):
            App.closeDocument(name)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(answers_err, 1)
        os.dup2(answers_err, 2)
        os.chdir("/")


def main():
    limits = json.loads(os.environ["DESIGNER_LIMITS"])
    # The answers keep the original stdout; fds 1 and 2 are pointed at each job's log.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.dup(2)
    apply_limits(limits)

    def answer(message):
        answers.write(ANSWER_MARK + json.dumps(message) + "\n")
        answers.flush()

    answer({"ready": True, "pid": os.getpid()})
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        result = run_job(json.loads(line), limits, quiet)
        answer(result)
        if result.get("fatal"):
            break
    os._exit(0)


main()
