# A fork server for design scripts inside one sandboxed FreeCAD process. The worker starts it
# inside the sandbox and talks to it line by line: a job as one JSON line on stdin, the answer
# as one marked JSON line on the original stdout.
#
# This process imports FreeCAD once and never runs a job's code: for each job it forks a fresh
# child (modules already imported) that checks, runs, measures and exports, reports through a
# pipe of its own, and exits. The child runs in its own process group with every other
# descriptor closed (the worker's answer channel included), so nothing a script does reaches
# another job's answer; afterwards this process kills the child's group and, under bubblewrap,
# everything else in the pid namespace, and empties the private /tmp. A script can only shape
# its own job's report, which it could as well do by drawing a different part.
#
# Environment (set by the worker): DESIGNER_RUNNER_DIR (this file's folder, for check.py),
# DESIGNER_LIMITS (JSON: cpu_seconds, memory_bytes, file_size_bytes, processes, max_jobs),
# DESIGNER_BUBBLEWRAP ("1" inside bubblewrap: a private pid namespace and /tmp).
import base64
import builtins
import json
import os
import resource
import select
import shutil
import sys
import time
import traceback
import types

sys.path.insert(0, os.environ["DESIGNER_RUNNER_DIR"])

import check  # noqa: E402

import FreeCAD as App  # noqa: E402
import Part  # noqa: E402
import Mesh  # noqa: E402
import MeshPart  # noqa: E402  (the one tessellation; imported before any job runs)

ANSWER_MARK = "@@designer@@ "
# Descriptors a child closes before the script runs (all but its report pipe).
MAX_FD = 65536
# A child's report larger than this is void (a script flooding its own pipe).
MAX_REPORT_BYTES = 16 * 1024 * 1024
# How often the parent looks whether a child that has gone quiet has exited.
REPORT_POLL_MS = 20
# How long a job's fork may wait for the process limit to free up.
FORK_RETRY_SECONDS = 10


def apply_limits(limits):
    """Process-wide limits, set before any child is forked; children inherit them."""
    cpu = limits["cpu_seconds"]
    # This process only forks and reads reports; each child sets its own budget (`run_child`).
    cpu_hard = cpu * (limits["max_jobs"] + 1) + 60
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (limits["file_size_bytes"], limits["file_size_bytes"])
    )
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class FrozenModule(types.ModuleType):
    """A module a design's own code may read but not change (however it reached it: an alias,
    a list, a function argument). FreeCAD's code still may: only design.py's frames are refused."""

    def __setattr__(self, name, value):
        refuse_design_change(self)
        super().__setattr__(name, value)

    def __delattr__(self, name):
        refuse_design_change(self)
        super().__delattr__(name)


def refuse_design_change(module):
    if sys._getframe(2).f_code.co_filename == "design.py":
        raise AttributeError(f"a design may not change the module '{module.__name__}'")


def freeze_modules():
    """Every loaded module becomes a `FrozenModule` (in the job's child only)."""
    for module in list(sys.modules.values()):
        if type(module) is types.ModuleType:
            try:
                module.__class__ = FrozenModule
            except TypeError:
                pass


def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    """The script's `__import__`: the allow-list again, at run time, behind the static check."""
    if level != 0 or name.split(".")[0] not in check.ALLOWED_MODULES:
        raise ImportError(f"import of '{name}' is not allowed")
    module = builtins.__import__(name, globals, locals, fromlist, level)
    freeze_modules()
    return module


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
    if job.get("unchecked") is True:
        # Test seam only (`FreecadRunner::run_unchecked_for_tests`, never set by a job): the
        # hostile-payload tests run full Python here to prove the sandbox, not the check, holds.
        doc = App.newDocument("Design")
        App.setActiveDocument(doc.Name)
        namespace = {"__name__": "__design__"}
        tree = compile(source, "design.py", "exec")
        return execute_and_measure(doc, tree, namespace, job, limits)
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
    freeze_modules()
    return execute_and_measure(doc, compile(tree, "design.py", "exec"), namespace, job, limits)


def execute_and_measure(doc, code, namespace, job, limits):
    try:
        exec(code, namespace)
        doc.recompute()
    except MemoryError:
        return failure(
            "memory_exceeded",
            f"the script ran out of memory (limit {limits['memory_bytes'] // (1024 * 1024)} MiB)",
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


def run_child(job, limits, report_fd):
    """The forked child: one job, then gone. It keeps only its report pipe (the parent's
    answer and job channels are closed first), runs in its own process group, and reports
    once; whatever it writes there describes only its own job."""
    os.setpgid(0, 0)
    os.chdir(job["dir"])
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open("freecad.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # Every other descriptor goes: the worker's answer channel above all (fd 3 and friends).
    os.closerange(3, report_fd)
    os.closerange(report_fd + 1, MAX_FD)
    # A fresh process starts its CPU clock at zero: one job's budget, no more.
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    try:
        result = run_script(job, limits)
    except MemoryError:
        result = failure("memory_exceeded", "FreeCAD ran out of memory")
    except BaseException as error:  # noqa: B036
        result = failure("execution_failed", f"the runner failed: {error!r}")
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        data = json.dumps(result).encode()
    except BaseException:  # noqa: B036 - a script may leave unserialisable junk behind
        data = json.dumps(failure("execution_failed", "the runner could not report")).encode()
    try:
        while data:
            data = data[os.write(report_fd, data):]
    finally:
        os._exit(0)


def other_processes(sandboxed, child, zombies=False):
    """Processes other than this one (and the namespace's init): the whole pid namespace
    under bubblewrap; otherwise those in our process group or the child's. Zombies count only
    when asked: they are already dead (only their parent's wait is missing)."""
    me = os.getpid()
    group = os.getpgid(0)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (me, 1):
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] in ("Z", "X") and not zombies:
            continue
        if sandboxed or int(fields[2]) in (group, child):
            found.append(int(entry))
    return found


def stop_everything_but_me(child, sandboxed):
    """Kills the child's process group and, under bubblewrap, every process of the namespace
    but this one; returns how many were still running, and whether all are gone."""
    # What the job left behind, counted before anything is killed: a fork bomb that the
    # process limit already stopped still shows as its zombies.
    strays = len(other_processes(sandboxed, child, zombies=True))
    for attempt in range(60):
        if attempt:
            # A killed process still has to be scheduled to exit: on a busy machine that
            # takes a while. Up to about 2.5 s in all before giving up on the process.
            time.sleep(min(0.001 * 2**attempt, 0.05))
        try:
            os.killpg(child, 9)
        except OSError:
            pass
        if sandboxed:
            # Inside our own pid namespace, -1 reaches exactly the job's leftovers.
            try:
                os.kill(-1, 9)
            except OSError:
                pass
        reap()
        left = other_processes(sandboxed, child)
        if not left:
            return strays, True
        strays = max(strays, len(left))
    return strays, False


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wipe_folder(folder, keep):
    """Removes everything in `folder` but the names in `keep` (symbolic links as links)."""
    for entry in os.listdir(folder):
        if entry in keep:
            continue
        path = os.path.join(folder, entry)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass


def read_report(fd, child):
    """The child's report, read until the child has exited and the pipe holds nothing more.
    End of file is not awaited: a process the script forked keeps the pipe's write end open
    for as long as it lives, and it is killed only after this returns."""
    chunks = []
    size = 0
    status = None
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        readable = poller.poll(REPORT_POLL_MS)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_REPORT_BYTES:
                # Keep draining so the child is not blocked, but the report is void.
                chunks = None
            elif chunks is not None:
                chunks.append(chunk)
            continue
        if status is not None:
            break  # the child has exited and nothing more came
        pid, waited = os.waitpid(child, os.WNOHANG)
        if pid:
            # Everything it wrote is in the pipe now: one more round drains it.
            status = waited
    os.close(fd)
    if status is None:
        _, status = os.waitpid(child, 0)
    return (None if chunks is None else b"".join(chunks)), status


def prepare_job_dir(job):
    """Empties the job folder and writes the job's script and input files into it, as the
    sandbox's user (the worker only reads from this folder)."""
    folder = job["dir"]
    wipe_folder(folder, keep=())
    files = {job["script"]: job["script_text"].encode()}
    for name, encoded in job.get("inputs", {}).items():
        files[name] = base64.b64decode(encoded)
    for name, data in files.items():
        if os.sep in name or name in (".", ".."):
            raise ValueError(f"not a file name: {name!r}")
        fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def fork_when_allowed():
    """`os.fork`, waiting a while when the process limit refuses it: processes an earlier job
    left (a fork bomb, killed) count against the limit until they are reaped, and without
    bubblewrap they are the host's to reap and share one count with every sandbox of the user."""
    delay = 0.01
    deadline = time.monotonic() + FORK_RETRY_SECONDS
    while True:
        try:
            return os.fork()
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def serve(job, limits, sandboxed, tmp_keep):
    """One job in a fresh forked child; this process never runs the job's code."""
    try:
        prepare_job_dir(job)
    except (OSError, ValueError) as error:
        return failure("execution_failed", f"the job folder could not be prepared: {error}")
    read_fd, write_fd = os.pipe()
    try:
        child = fork_when_allowed()
    except BlockingIOError:
        os.close(read_fd)
        os.close(write_fd)
        return failure(
            "execution_failed",
            "the job's process could not be started: the process limit "
            "(FREECAD_MAX_PROCESSES) is still taken by processes that are exiting",
            fatal=True,
        )
    if child == 0:
        os.close(read_fd)
        run_child(job, limits, write_fd)
    os.close(write_fd)
    report, status = read_report(read_fd, child)
    strays, all_gone = stop_everything_but_me(child, sandboxed)
    if sandboxed:
        # A fresh /tmp for the next child (bubblewrap's private tmpfs only; without it /tmp
        # is the host's and is left alone).
        wipe_folder("/tmp", tmp_keep)
    if not all_gone:
        return failure(
            "execution_failed",
            f"the script left {strays} processes running that could not be stopped",
            fatal=True,
        )
    if os.WIFSIGNALED(status):
        return failure(
            "execution_crashed", "the job's process was killed", signal=os.WTERMSIG(status)
        )
    if strays:
        return failure(
            "execution_failed", f"the script left {strays} processes running; they were stopped"
        )
    try:
        result = json.loads(report) if report else None
    except ValueError:
        result = None
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        return failure("execution_crashed", "the job's process ended without a report", signal=None)
    return result


def main():
    limits = json.loads(os.environ["DESIGNER_LIMITS"])
    sandboxed = os.environ.get("DESIGNER_BUBBLEWRAP") == "1"
    # The answers keep the original stdout; FreeCAD's own chatter goes to stderr's log.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    apply_limits(limits)
    tmp_keep = set(os.listdir("/tmp")) if sandboxed else set()

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
        result = serve(json.loads(line), limits, sandboxed, tmp_keep)
        answer(result)
        if result.get("fatal"):
            break
    os._exit(0)


try:
    main()
except BaseException:  # noqa: B036
    # Never fall through to freecadcmd's interactive console, which would sit on stdin with
    # the answer channel open and leave the worker waiting for an answer until its timeout.
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(70)
