//! The offline planner reads any text a stranger sends: it must answer a plan or a refusal,
//! never panic, and a plan's expected geometry must be finite and positive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use worker::offline_planner::OfflinePlanner;

fuzz_target!(|data: &[u8]| {
    let Ok(prompt) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plan) = OfflinePlanner.plan(prompt) {
        let expected = &plan.plan.expected;
        if let Some(volume) = expected.volume {
            assert!(volume.is_finite() && volume > 0.0, "volume {volume} for {prompt:?}");
        }
        if let Some(bbox) = expected.bbox {
            assert!(bbox.iter().all(|d| d.is_finite() && *d > 0.0), "{bbox:?} for {prompt:?}");
        }
    }
});
