//! `shared::queue` mirrors apalis-redis 1.0's key layout so that the gateway can queue tasks
//! and the workers promote, forget and count them with scripts of ours; these tests pin every
//! name it mirrors against what apalis-redis's own `Config` produces for the same queue.

use apalis::prelude::WorkerContext;
use apalis_redis::Config;
use shared::keys::Keys;
use shared::queue::QUEUE_NAME;

fn ours_and_theirs() -> (Keys, Config) {
    (Keys::new("designer:"), Config::default().queue(QUEUE_NAME))
}

#[test]
fn queue_lists_sets_and_hashes_are_named_as_apalis_redis_names_them() {
    let (ours, theirs) = ours_and_theirs();
    assert_eq!(ours.queue_active(), theirs.active_jobs_list());
    assert_eq!(ours.queue_data(), theirs.job_data_hash());
    assert_eq!(ours.queue_meta_prefix(), theirs.job_meta_hash());
    assert_eq!(ours.queue_signal(), theirs.signal_list());
    assert_eq!(ours.queue_scheduled(), theirs.scheduled_jobs_set());
    assert_eq!(ours.queue_workers(), theirs.workers_set());
    assert_eq!(ours.queue_done(), theirs.done_jobs_set());
    assert_eq!(ours.queue_dead(), theirs.dead_jobs_set());
    assert_eq!(ours.queue_failed(), theirs.failed_jobs_set());
    assert_eq!(ours.queue_inflight_prefix(), theirs.inflight_jobs_set());
}

#[test]
fn per_worker_keys_are_named_as_apalis_redis_names_them() {
    let (ours, theirs) = ours_and_theirs();
    let worker = WorkerContext::new("worker-host-1-abcdef01-0");
    assert_eq!(
        ours.queue_worker_metadata(worker.name()),
        theirs.worker_metadata_key(&worker)
    );
    assert_eq!(
        ours.queue_inflight(worker.name()),
        theirs.inflight_set_for(&worker)
    );
}

#[test]
fn a_task_metadata_hash_is_apalis_redis_prefix_colon_task_id() {
    // apalis-redis's scripts build it in Lua (`KEYS[4] .. ':' .. task_id` in batch_push.lua,
    // with KEYS[4] = `Config::job_meta_hash`), so the pin is the same concatenation.
    let (ours, theirs) = ours_and_theirs();
    let task_id = "01JDZ6X2Q9V8K3M4N5P6R7S8T9";
    assert_eq!(
        ours.queue_task_meta(task_id),
        format!("{}:{task_id}", theirs.job_meta_hash())
    );
}

#[test]
fn the_wake_up_channel_is_the_one_apalis_redis_publishes_and_parses() {
    let (ours, theirs) = ours_and_theirs();
    // apalis-redis publishes on `tasks:{active list}:available` and splits the channel name
    // on `:` to find the queue, which a `:` in the queue name would break.
    assert_eq!(
        ours.queue_available_channel(),
        format!("tasks:{}:available", theirs.active_jobs_list())
    );
    assert!(!QUEUE_NAME.contains(':'));
}
