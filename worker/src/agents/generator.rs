//! FreeCAD scripts from templates, for the parts of the offline planner.
//!
//! A script works on `App.ActiveDocument`, which the runner creates before it runs the
//! script; the runner measures and exports whatever top-level shapes the script leaves.

use crate::planner::Part;

pub fn script_for(part: &Part) -> String {
    let body = match *part {
        Part::Box {
            length,
            width,
            height,
        } => format!(
            "part = doc.addObject(\"Part::Box\", \"Box\")\n\
             part.Length = {length:?}\n\
             part.Width = {width:?}\n\
             part.Height = {height:?}\n"
        ),
        Part::Cylinder { radius, height } => format!(
            "part = doc.addObject(\"Part::Cylinder\", \"Cylinder\")\n\
             part.Radius = {radius:?}\n\
             part.Height = {height:?}\n"
        ),
    };
    format!(
        "import FreeCAD as App\n\
         import Part\n\
         \n\
         doc = App.ActiveDocument\n\
         {body}\
         doc.recompute()\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_script_sets_every_dimension() {
        let script = script_for(&Part::Box {
            length: 100.0,
            width: 50.0,
            height: 30.5,
        });
        assert!(script.contains("part.Length = 100.0\n"), "{script}");
        assert!(script.contains("part.Width = 50.0\n"));
        assert!(script.contains("part.Height = 30.5\n"));
        assert!(script.ends_with("doc.recompute()\n"));
    }

    #[test]
    fn cylinder_script_uses_the_radius() {
        let script = script_for(&Part::Cylinder {
            radius: 20.0,
            height: 25.0,
        });
        assert!(script.contains("\"Part::Cylinder\""));
        assert!(script.contains("part.Radius = 20.0\n"));
    }
}
