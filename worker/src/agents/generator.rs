//! FreeCAD scripts for the parts of the offline planner; the templates themselves live with
//! the catalogue (`planner::catalogue::geometry`), next to the volume formulas they must match.
//!
//! A script works on `App.ActiveDocument`, which the runner creates before it runs the
//! script, and leaves the finished part as the document's only object, which the runner
//! measures and exports.

use crate::planner::Part;

pub fn script_for(part: &Part) -> String {
    part.script()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::OfflinePlanner;

    fn script(prompt: &str) -> String {
        script_for(&OfflinePlanner.plan(prompt).unwrap().part)
    }

    #[test]
    fn box_script_sets_every_dimension() {
        let script = script("a box 100 x 50 x 30.5 mm");
        assert!(
            script.contains("shape = Part.makeBox(100.0, 50.0, 30.5)\n"),
            "{script}"
        );
        assert!(script.ends_with("doc.recompute()\n"));
    }

    #[test]
    fn scripts_only_import_freecad_and_part() {
        let script = script("a plate 100x50x5 with four M6 holes and 2 mm fillets");
        let imports: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("import") || l.starts_with("from"))
            .collect();
        assert_eq!(imports, ["import FreeCAD as App", "import Part"]);
        assert_eq!(script.matches("shape = shape.cut(").count(), 4, "{script}");
        assert!(script.contains("makeFillet(2.0, shape.Edges)"), "{script}");
    }

    #[test]
    fn cylinder_script_uses_the_radius() {
        let script = script("a cylinder 40 mm in diameter and 25 mm tall");
        assert!(script.contains("Part.makeCylinder(20.0, 25.0)"), "{script}");
    }
}
