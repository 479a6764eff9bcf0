//! The worker's integration tests: the FreeCAD runner against real `freecadcmd`, the offline
//! planner's phrasings and refusals, and every catalogue entry built in real FreeCAD.

mod catalogue;
mod phrasings;
mod refusals;
mod runner;
