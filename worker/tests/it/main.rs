//! The worker's integration tests against real `freecadcmd`: the runner, its check, sandbox
//! and warm pool; the offline planner's phrasings and refusals, and every catalogue entry; the
//! LLM layer and the agents against fake vendors; the queue key layout against apalis-redis.

mod catalogue;
mod check;
mod fake_vendor;
mod formats;
mod helpers;
mod in_flight;
mod llm;
mod phrasings;
mod pool;
mod queue_layout;
mod refusals;
mod runner;
mod sandbox;
mod tenancy;
mod webhooks;
