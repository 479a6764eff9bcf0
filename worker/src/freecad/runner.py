# Runs one design script inside FreeCAD, then measures and exports what it made.
# The worker writes job.json into the working directory and reads result.json back;
# FreeCAD's own console output is only kept as a log.
import json
import traceback

import FreeCAD as App
import Part


def top_level_objects(doc):
    """Objects with a shape that no other object uses (the parts a person would see)."""
    return [
        obj
        for obj in doc.Objects
        if hasattr(obj, "Shape") and not obj.InList and not obj.Shape.isNull()
    ]


def measure(shapes):
    shape = shapes[0] if len(shapes) == 1 else Part.makeCompound(shapes)
    box = shape.BoundBox
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
    }


def export(doc, objects, outputs):
    for fmt, path in outputs.items():
        if fmt == "step":
            Part.export(objects, path)
        elif fmt == "stl":
            import Mesh

            Mesh.export(objects, path)
        elif fmt == "fcstd":
            doc.saveAs(path)


def main():
    with open("job.json") as f:
        job = json.load(f)
    result = {"ok": False}
    try:
        doc = App.newDocument("Design")
        App.setActiveDocument(doc.Name)
        with open(job["script"]) as f:
            source = f.read()
        namespace = {"__name__": "__design__", "App": App, "FreeCAD": App, "Part": Part}
        exec(compile(source, "design.py", "exec"), namespace)
        doc.recompute()
        objects = top_level_objects(doc)
        if not objects:
            raise RuntimeError("the script made no shape")
        result["objects"] = [obj.Name for obj in objects]
        result["geometry"] = measure([obj.Shape for obj in objects])
        export(doc, objects, job["outputs"])
        result["ok"] = True
    except Exception as error:
        result["error"] = "".join(traceback.format_exception_only(type(error), error)).strip()
        result["traceback"] = traceback.format_exc()[-4000:]
    with open("result.json", "w") as f:
        json.dump(result, f)


main()
