//! The orchestrator: where a scored result goes next, as ARCHITECTURE.md ("worker") and the
//! predecessor route it. It calls no model: like the predecessor's, it delegates to the
//! other agents, and its model settings are kept only so the configuration stays the same.

/// Scores from here up complete the job.
pub const COMPLETE_AT: f64 = 0.8;
/// Scores from here up go back to the generator with the feedback.
pub const REFINE_AT: f64 = 0.4;
/// Scores from here up go back to the planner; below, the job fails.
pub const REPLAN_AT: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Complete,
    /// Back to the generator with the validator's feedback.
    Refine,
    /// Back to the planner with the feedback, then the generator.
    Replan,
    Fail,
}

/// The route for a result scored `score` in iteration `iteration` (from 1) of at most
/// `max_iterations`. `can_improve` is false when another round would produce the same script
/// (the deterministic catalogue template), so a result that is not good enough fails at once.
pub fn route(score: f64, iteration: u32, max_iterations: u32, can_improve: bool) -> Route {
    if score >= COMPLETE_AT {
        return Route::Complete;
    }
    if !can_improve || iteration >= max_iterations {
        return Route::Fail;
    }
    if score >= REFINE_AT {
        Route::Refine
    } else if score >= REPLAN_AT {
        Route::Replan
    } else {
        Route::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_contract_thresholds() {
        assert_eq!(route(1.0, 1, 5, true), Route::Complete);
        assert_eq!(route(0.8, 1, 5, true), Route::Complete);
        assert_eq!(route(0.79, 1, 5, true), Route::Refine);
        assert_eq!(route(0.4, 1, 5, true), Route::Refine);
        assert_eq!(route(0.39, 1, 5, true), Route::Replan);
        assert_eq!(route(0.2, 1, 5, true), Route::Replan);
        assert_eq!(route(0.19, 1, 5, true), Route::Fail);
    }

    #[test]
    fn never_past_max_iterations_and_never_round_a_fixed_template() {
        assert_eq!(route(0.5, 5, 5, true), Route::Fail);
        assert_eq!(route(0.9, 5, 5, true), Route::Complete);
        assert_eq!(route(0.5, 1, 5, false), Route::Fail);
    }
}
