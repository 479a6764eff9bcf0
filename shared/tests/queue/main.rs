//! Every Lua script of `shared::queue`, of the job store and of the usage ledger run directly against a real
//! `redis-server`: each test sets keys up, calls the Rust function that runs the script, and
//! reads back what the script left in Redis.

mod fair;
mod records;
mod redis_server;
mod tasks;
mod upkeep;
mod usage;
