# The static check every design script passes before it runs, with Python's own `ast`.
#
# It turns away what a model talked into misbehaving would write first: imports outside an
# allow-list, the builtins that reach the interpreter (`__import__`, `exec`, `eval`, `open`,
# `getattr`, ...), dunder and frame attributes, rebinding modules, code hidden in strings (string
# annotations, run-time format templates) and FreeCAD's preference and importer side doors.
# It is a speed bump, not the wall: FreeCAD's own API has side doors no name
# list can close (file exports to any path, preference-driven importers that start programs),
# so every script also runs inside the sandbox.
import ast

# Top-level modules a design script may import.
ALLOWED_MODULES = frozenset(
    {
        "FreeCAD",
        "App",
        "Part",
        "Sketcher",
        "PartDesign",
        "Mesh",
        "MeshPart",
        "Draft",
        "BOPTools",
        "math",
        "cmath",
        "random",
        "itertools",
        "collections",
        "fractions",
        "decimal",
        "statistics",
        "copy",
    }
)
# Left out on purpose, because they turn strings into code: `typing` (get_type_hints evaluates
# string annotations with real builtins), `functools` (singledispatch does the same), `string`
# (Formatter walks attributes named in a template).

# Names that reach the interpreter, the file system or the process, as a name or an attribute.
FORBIDDEN_NAMES = frozenset(
    {
        "__import__",
        "__builtins__",
        "__loader__",
        "__spec__",
        "exec",
        "eval",
        "compile",
        "open",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "breakpoint",
        "input",
        "help",
        "exit",
        "quit",
        "memoryview",
        "os",
        "posix",
        "sys",
        "subprocess",
        "socket",
        "ctypes",
        "importlib",
        "builtins",
        "shutil",
        "signal",
        "multiprocessing",
        "threading",
        "_thread",
        "pty",
        "io",
        "pathlib",
        "resource",
    }
)

# Attributes that walk from any object to frames, code and globals (and from there, to builtins).
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "func_globals",
        "mro",
    }
)

# FreeCAD's side doors: preferences (an importer's converter program is a preference) and
# loading files by extension (which starts that converter). A design needs neither.
SIDE_DOOR_ATTRIBUTES = frozenset({"ParamGet", "loadFile", "openDocument"})

# String methods whose template reaches attributes of their arguments.
FORMAT_METHODS = frozenset({"format", "format_map"})


class Rejected(Exception):
    """A script the check turns away: where, and what."""

    def __init__(self, line, construct):
        super().__init__(f"line {line}: {construct}")
        self.line = line
        self.construct = construct


def _is_literal_string(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_dunder(name):
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class _Checker(ast.NodeVisitor):
    def __init__(self):
        self.module_aliases = set()

    def reject(self, node, construct):
        raise Rejected(getattr(node, "lineno", 0), construct)

    def check_module(self, node, dotted):
        top = (dotted or "").split(".")[0]
        if top not in ALLOWED_MODULES:
            allowed = ", ".join(sorted(ALLOWED_MODULES))
            self.reject(node, f"import of '{dotted}' is not allowed (allowed: {allowed})")

    def visit_Import(self, node):
        for alias in node.names:
            self.check_module(node, alias.name)
            self.module_aliases.add(alias.asname or alias.name.split(".")[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level:
            self.reject(node, "a relative import is not allowed")
        self.check_module(node, node.module)
        for alias in node.names:
            if alias.name == "*":
                self.reject(node, f"'from {node.module} import *' is not allowed")
            self.check_name(node, alias.name)
            self.check_name(node, alias.asname or alias.name)
            # What comes out of a module (a submodule, a class) is shared like the module.
            self.module_aliases.add(alias.asname or alias.name)
        self.generic_visit(node)

    def check_name(self, node, name):
        if name in FORBIDDEN_NAMES or _is_dunder(name):
            self.reject(node, f"the name '{name}' is not allowed")

    def visit_Name(self, node):
        self.check_name(node, node.id)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        name = node.attr
        if name.startswith("_"):
            self.reject(node, f"access to the attribute '{name}' is not allowed")
        if name in FORBIDDEN_NAMES or name in FORBIDDEN_ATTRIBUTES:
            self.reject(node, f"access to the attribute '{name}' is not allowed")
        if name in SIDE_DOOR_ATTRIBUTES:
            self.reject(node, f"FreeCAD's '{name}' is not allowed in a design")
        if name in FORMAT_METHODS and not _is_literal_string(node.value):
            self.reject(node, f"'.{name}' is allowed only on a literal template")
        if (
            isinstance(node.ctx, (ast.Store, ast.Del))
            and isinstance(node.value, ast.Name)
            and node.value.id in self.module_aliases
        ):
            # Modules are shared code: a design may not rewire them. The runner refuses it at
            # run time too, however the module was reached (a list, an argument).
            self.reject(node, f"changing the module '{node.value.id}' is not allowed")
        self.generic_visit(node)

    def visit_Assign(self, node):
        # `m = Part` makes `m` a module too, for the rule above.
        if isinstance(node.value, ast.Name) and node.value.id in self.module_aliases:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.module_aliases.add(target.id)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.check_annotation(node.annotation)
        self.generic_visit(node)

    def visit_arg(self, node):
        if node.annotation is not None:
            self.check_annotation(node.annotation)
        self.generic_visit(node)

    def check_annotation(self, annotation):
        # A string annotation is code a type-hint reader would evaluate later.
        for inner in ast.walk(annotation):
            if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                self.reject(inner, "a string annotation is not allowed")

    def visit_FunctionDef(self, node):
        # Defining `__init__` or `__repr__` is ordinary Python; only reaching dunders is not.
        if node.returns is not None:
            self.check_annotation(node.returns)
        if node.name in FORBIDDEN_NAMES:
            self.reject(node, f"the name '{node.name}' is not allowed")
        for arg in ast.walk(node.args):
            if isinstance(arg, ast.arg):
                self.check_name(arg, arg.arg)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        for arg in ast.walk(node.args):
            if isinstance(arg, ast.arg):
                self.check_name(arg, arg.arg)
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        self.check_name(node, node.name)
        self.generic_visit(node)

    def visit_Global(self, node):
        for name in node.names:
            self.check_name(node, name)

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node):
        if node.name:
            self.check_name(node, node.name)
        self.generic_visit(node)

    def visit_keyword(self, node):
        if node.arg:
            self.check_name(node, node.arg)
        self.generic_visit(node)

    def visit_Constant(self, node):
        # Format strings reach attributes too: "{0.__class__}".format(x).
        if isinstance(node.value, str) and "__" in node.value:
            self.reject(node, "a string containing '__' is not allowed")


def check(source):
    """Parses and checks a script; returns its tree, or raises `Rejected` or `SyntaxError`."""
    tree = ast.parse(source, filename="design.py", mode="exec")
    _Checker().visit(tree)
    return tree
