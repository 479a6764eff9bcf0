//! The worker's integration tests against real `freecadcmd`: the runner, its check, sandbox
//! and warm pool; the offline planner's phrasings and refusals, and every catalogue entry.

mod catalogue;
mod check;
mod helpers;
mod phrasings;
mod pool;
mod refusals;
mod runner;
mod sandbox;
