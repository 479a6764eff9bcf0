//! The worker's integration tests: the FreeCAD runner, its check, sandbox and warm pool,
//! against real `freecadcmd`.

mod check;
mod helpers;
mod pool;
mod runner;
mod sandbox;
