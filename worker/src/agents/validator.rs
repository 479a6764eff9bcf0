//! The validator agent: scores a measured result against the plan (valid solid, solid count,
//! bounding box within 0.5 % per axis, volume within 1 %; ARCHITECTURE.md, "worker") and, when it
//! has a model, asks it for a review.
//!
//! A review can lower the score, never raise it: a model cannot vouch for dimensions that
//! were measured wrong, but it can see what numbers cannot (a missing hole, a wrong shape).

use serde::Deserialize;
use shared::job::Geometry;
use tracing::warn;

use super::planner::preview;
use super::{Agent, AgentError, AgentStep, PipelineState, json_object};
use crate::llm::ChunkSink;
use crate::offline_planner::{DesignPlan, ExpectedGeometry};

pub const SYSTEM_PROMPT: &str = "You review a part that FreeCAD built from a plan. You get \
the request, the plan, the script and the measured geometry, with the result of the \
numeric checks. Answer with one JSON object and nothing else: \
{\"score\": a number from 0 to 1, \"approved\": true or false, \
\"feedback\": [\"each concrete change the script needs\"]}.";

pub const BBOX_TOLERANCE: f64 = 0.005;
/// Each axis of the bounding box is compared with its own expected extent (a 2 mm thick disc
/// is judged on its 2 mm, not its diameter); below this a difference is FreeCAD's round-off.
pub const BBOX_FLOOR_MM: f64 = 1e-3;
pub const VOLUME_TOLERANCE: f64 = 0.01;
/// Scores from here up complete the job.
pub const APPROVAL_SCORE: f64 = 0.8;

#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// 0..1: the weighted share of checks that passed.
    pub score: f64,
    pub approved: bool,
    /// What failed, for people and for the generator's next round.
    pub feedback: Vec<String>,
    /// Remarks about the validation itself (a review that could not be made), not the part.
    pub notes: Vec<String>,
}

/// A model's review, as it may write it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Review {
    pub score: f64,
    #[serde(default)]
    pub approved: Option<bool>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub feedback: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(line)) => vec![line],
        Some(OneOrMany::Many(lines)) => lines,
    })
}

/// A review from a model's answer, checked.
pub fn parse_review(answer: &str) -> Result<Review, AgentError> {
    let unusable = |message: String| AgentError::UnusableReply {
        agent: "validator",
        message,
    };
    let json = json_object(answer)
        .ok_or_else(|| unusable(format!("no JSON object in: {}", preview(answer))))?;
    let review: Review = serde_json::from_str(json).map_err(|e| {
        unusable(format!(
            "the review is not valid JSON of the expected shape: {e}"
        ))
    })?;
    if !(0.0..=1.0).contains(&review.score) {
        return Err(unusable(format!("score {} is outside 0..1", review.score)));
    }
    Ok(review)
}

/// The geometric verdict with a model's review folded in.
pub fn combine(geometric: Validation, review: &Review) -> Validation {
    let score = if review.score < geometric.score {
        (geometric.score + review.score) / 2.0
    } else {
        geometric.score
    };
    let mut feedback = geometric.feedback;
    feedback.extend(
        review
            .feedback
            .iter()
            .filter(|line| !line.trim().is_empty())
            .cloned(),
    );
    Validation {
        score,
        approved: score >= APPROVAL_SCORE,
        feedback,
        notes: geometric.notes,
    }
}

pub struct Validator {
    pub agent: Agent,
}

impl Validator {
    /// Scores `state.geometry` against `state.plan`; stores the verdict in `state`. A review
    /// that fails (the model is down, its answer unreadable) leaves the geometric score and
    /// says so in the feedback: the measurement alone is a sound verdict.
    pub async fn execute(
        &self,
        state: &mut PipelineState,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<(), AgentError> {
        self.agent.run(self, state, sink).await
    }
}

impl AgentStep for Validator {
    fn offline(&self, state: &mut PipelineState) -> Result<(), AgentError> {
        let (plan, geometry) = measured(state)?;
        state.validation = Some(validate(geometry, &plan.expected));
        Ok(())
    }

    async fn with_model(
        &self,
        state: &mut PipelineState,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<(), AgentError> {
        let (plan, geometry) = measured(state)?;
        let geometric = validate(geometry, &plan.expected);
        let request = review_request(state, plan, geometry, &geometric);
        let reviewed = self.agent.ask(SYSTEM_PROMPT, request, sink).await;
        let verdict = match reviewed.and_then(|answer| parse_review(&answer.text)) {
            Ok(review) => combine(geometric, &review),
            Err(error) => {
                warn!(%error, "the validator's review failed; scoring on geometry alone");
                let mut alone = geometric;
                alone.notes.push(format!("model review skipped: {error}"));
                alone
            }
        };
        state.validation = Some(verdict);
        Ok(())
    }
}

/// The plan and the measured result the validator compares; both must be there.
fn measured(state: &PipelineState) -> Result<(&DesignPlan, &Geometry), AgentError> {
    match (&state.plan, &state.geometry) {
        (Some(plan), Some(geometry)) => Ok((plan, geometry)),
        _ => Err(AgentError::Config(
            "the validator ran before a result was measured".into(),
        )),
    }
}

fn review_request(
    state: &PipelineState,
    plan: &DesignPlan,
    geometry: &Geometry,
    geometric: &Validation,
) -> String {
    format!(
        "Design request: {}\nPlan:\n{}\nScript:\n```python\n{}\n```\nMeasured geometry:\n{}\n\
         Numeric checks: score {:.3}; {}\n",
        state.prompt,
        serde_json::to_string_pretty(plan).unwrap_or_default(),
        state.script.as_deref().unwrap_or_default(),
        serde_json::to_string_pretty(geometry).unwrap_or_default(),
        geometric.score,
        if geometric.feedback.is_empty() {
            "all passed".to_owned()
        } else {
            geometric.feedback.join("; ")
        }
    )
}

fn relative_error(measured: f64, expected: f64) -> f64 {
    if expected == 0.0 {
        measured.abs()
    } else {
        ((measured - expected) / expected).abs()
    }
}

pub fn validate(measured: &Geometry, expected: &ExpectedGeometry) -> Validation {
    // (weight, passed, feedback when failed)
    let mut checks: Vec<(f64, bool, String)> = vec![(
        1.0,
        measured.valid && measured.solids > 0,
        format!(
            "the shape is not a valid solid (valid: {}, solids: {})",
            measured.valid, measured.solids
        ),
    )];
    if let Some(solids) = expected.solids {
        checks.push((
            0.5,
            measured.solids == solids,
            format!("expected {solids} solid(s), found {}", measured.solids),
        ));
    }
    if let Some(bbox) = expected.bbox {
        // Each axis against its own extent, with the plan's allowance for how the box is
        // measured (a mesh widens it) and a round-off floor.
        let allowance = expected.bbox_allowance_mm.unwrap_or(0.0).max(BBOX_FLOOR_MM);
        let within = (0..3).all(|axis| {
            let off = (measured.bbox[axis] - bbox[axis]).abs();
            off <= allowance || relative_error(measured.bbox[axis], bbox[axis]) <= BBOX_TOLERANCE
        });
        let worst = (0..3)
            .map(|axis| relative_error(measured.bbox[axis], bbox[axis]))
            .fold(0.0, f64::max);
        checks.push((
            1.5,
            within,
            format!(
                "bounding box {:?} mm differs from the expected {:?} mm by {:.2} %",
                measured.bbox,
                bbox,
                worst * 100.0
            ),
        ));
    }
    if let Some(volume) = expected.volume {
        let error = relative_error(measured.volume, volume);
        checks.push((
            1.5,
            error <= VOLUME_TOLERANCE,
            format!(
                "volume {:.3} mm^3 differs from the expected {volume:.3} mm^3 by {:.2} %",
                measured.volume,
                error * 100.0
            ),
        ));
    }
    let total: f64 = checks.iter().map(|(w, _, _)| w).sum();
    let passed: f64 = checks
        .iter()
        .filter(|(_, ok, _)| *ok)
        .map(|(w, _, _)| w)
        .sum();
    let score = passed / total;
    Validation {
        score,
        approved: score >= APPROVAL_SCORE,
        feedback: checks
            .into_iter()
            .filter(|(_, ok, _)| !ok)
            .map(|(_, _, message)| message)
            .collect(),
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::error_code::ErrorCode;

    fn measured(bbox: [f64; 3], volume: f64) -> Geometry {
        Geometry {
            valid: true,
            solids: 1,
            volume,
            area: 1.0,
            bbox,
            bbox_min: [0.0; 3],
            bbox_max: bbox,
        }
    }

    fn expected(bbox: [f64; 3], volume: f64) -> ExpectedGeometry {
        ExpectedGeometry {
            bbox_allowance_mm: None,
            bbox: Some(bbox),
            volume: Some(volume),
            solids: Some(1),
        }
    }

    #[test]
    fn an_exact_match_scores_one() {
        let v = validate(
            &measured([10.0, 20.0, 30.0], 6000.0),
            &expected([10.0, 20.0, 30.0], 6000.0),
        );
        assert_eq!(v.score, 1.0);
        assert!(v.approved);
        assert!(v.feedback.is_empty());
    }

    #[test]
    fn tolerances_are_the_contract_ones() {
        let e = expected([100.0, 100.0, 100.0], 1_000_000.0);
        assert!(
            validate(&measured([100.4, 100.0, 100.0], 1_009_000.0), &e)
                .feedback
                .is_empty()
        );
        let v = validate(&measured([100.6, 100.0, 100.0], 1_000_000.0), &e);
        assert_eq!(v.feedback.len(), 1, "{:?}", v.feedback);
        assert!(v.feedback[0].contains("bounding box"));
        let v = validate(&measured([100.0, 100.0, 100.0], 1_011_000.0), &e);
        assert!(v.feedback[0].contains("volume"));
        assert!(v.score < 1.0);
    }

    #[test]
    fn each_axis_is_judged_on_its_own_extent_with_a_round_off_floor() {
        // A 2 mm disc 60 mm across: 1 % off in its thickness fails, though it is 0.03 % of
        // the largest extent; 0.0005 mm off a 0.05 mm foil is round-off and passes.
        let disc = expected([60.0, 60.0, 2.0], 5000.0);
        assert!(!validate(&measured([60.0, 60.0, 2.02], 5000.0), &disc).approved);
        assert!(validate(&measured([60.0, 60.0, 2.009], 5000.0), &disc).approved);
        let foil = expected([100.0, 100.0, 0.05], 500.0);
        let v = validate(&measured([100.0, 100.0, 0.0505], 500.0), &foil);
        assert_eq!(v.score, 1.0, "{:?}", v.feedback);
        let v = validate(&measured([100.0, 100.0, 0.06], 500.0), &foil);
        assert!(v.score < 1.0);
        // A filleted 2 mm disc measured on a mesh of 0.02 mm deflection: the plan allows it.
        let meshed = ExpectedGeometry {
            bbox_allowance_mm: Some(0.04),
            ..expected([60.0, 60.0, 2.0], 5000.0)
        };
        let v = validate(&measured([60.019, 60.0, 2.019], 5000.0), &meshed);
        assert_eq!(v.score, 1.0, "{:?}", v.feedback);
        assert!(validate(&measured([60.0, 60.0, 2.05], 5000.0), &meshed).score < 1.0);
    }

    #[test]
    fn a_wrong_part_is_not_approved() {
        let v = validate(
            &measured([50.0, 20.0, 30.0], 3000.0),
            &expected([10.0, 20.0, 30.0], 6000.0),
        );
        assert!(!v.approved, "score {}", v.score);
        let invalid = Geometry {
            valid: false,
            solids: 0,
            ..measured([10.0, 20.0, 30.0], 6000.0)
        };
        assert!(!validate(&invalid, &expected([10.0, 20.0, 30.0], 6000.0)).approved);
    }

    #[test]
    fn a_review_lowers_a_score_but_never_raises_it() {
        let exact = validate(
            &measured([10.0, 20.0, 30.0], 6000.0),
            &expected([10.0, 20.0, 30.0], 6000.0),
        );
        let doubtful = parse_review(
            "```json\n{\"score\": 0.2, \"approved\": false, \"feedback\": \"the hole is missing\"}\n```",
        )
        .unwrap();
        let v = combine(exact.clone(), &doubtful);
        assert_eq!(v.score, 0.6);
        assert!(!v.approved);
        assert_eq!(v.feedback, ["the hole is missing"]);

        let wrong = validate(
            &measured([50.0, 20.0, 30.0], 3000.0),
            &expected([10.0, 20.0, 30.0], 6000.0),
        );
        let generous = parse_review("{\"score\": 1.0, \"feedback\": []}").unwrap();
        assert_eq!(combine(wrong.clone(), &generous).score, wrong.score);
    }

    #[test]
    fn unreadable_reviews_are_clear_errors() {
        for answer in ["looks fine to me", "{\"score\": 7}", "{\"approved\": true}"] {
            let error = parse_review(answer).unwrap_err();
            assert_eq!(error.code(), ErrorCode::LlmInvalidReply, "{answer}");
        }
    }
}
