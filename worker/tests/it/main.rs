//! The worker's integration tests: the FreeCAD runner against real `freecadcmd`.

mod runner;
