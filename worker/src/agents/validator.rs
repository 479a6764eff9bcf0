//! Scores a measured result against the plan: valid solid, solid count, bounding box within
//! 0.5 % per axis, volume within 1 % (DESIGN.md section 6).

use shared::job::Geometry;

use crate::planner::ExpectedGeometry;

pub const BBOX_TOLERANCE: f64 = 0.005;
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
        let worst = (0..3)
            .map(|axis| relative_error(measured.bbox[axis], bbox[axis]))
            .fold(0.0, f64::max);
        checks.push((
            1.5,
            worst <= BBOX_TOLERANCE,
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
