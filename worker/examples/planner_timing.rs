//! How long the offline planner takes per prompt, without FreeCAD: plans every phrasing of
//! the test table many times and prints the median and p99 of each, then overall.
//!
//! `cargo run --release -p worker --example planner_timing [rounds]`

use std::hint::black_box;
use std::time::{Duration, Instant};

use worker::agents::generator::script_for;
use worker::offline_planner::OfflinePlanner;

#[path = "../tests/it/phrasings.rs"]
mod phrasings;

const DEFAULT_ROUNDS: usize = 2000;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let rounds = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let planner = OfflinePlanner;
    let mut medians = Vec::new();
    let mut all = Vec::new();
    println!("{:>9} {:>9}  prompt (plan + script, µs)", "median", "p99");
    for phrasing in phrasings::PHRASINGS {
        // Time only plans that are right; the test table says what right is.
        let plan = planner.plan(phrasing.prompt).expect("the table plans");
        assert_eq!(plan.entry, phrasing.entry, "{}", phrasing.prompt);
        assert_eq!(plan.parameters.len(), phrasing.parameters.len());
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let plan = planner
                .plan(black_box(phrasing.prompt))
                .expect("the table plans");
            black_box(script_for(&plan.part));
            times.push(started.elapsed());
        }
        times.sort_unstable();
        let median = percentile(&times, 0.5);
        println!(
            "{:>9.1} {:>9.1}  {}",
            micros(median),
            micros(percentile(&times, 0.99)),
            phrasing.prompt
        );
        medians.push(median);
        all.extend(times);
    }
    medians.sort_unstable();
    all.sort_unstable();
    println!(
        "\n{} phrasings x {rounds} rounds: median of the per-prompt medians {:.1} µs \
         (slowest prompt's median {:.1} µs); over all plans median {:.1} µs, p99 {:.1} µs",
        phrasings::PHRASINGS.len(),
        micros(percentile(&medians, 0.5)),
        micros(*medians.last().expect("phrasings")),
        micros(percentile(&all, 0.5)),
        micros(percentile(&all, 0.99)),
    );
}
