//! [`OfflinePlanner`]: reads a prompt, picks the catalogue entry it names, and answers with a
//! `DesignPlan` whose expected geometry is exact, plus the entry and the parameters it
//! understood so the user can see what the planner thought they meant.
//!
//! The planner never guesses: a prompt that names something outside the catalogue fails with
//! `unsupported_prompt`; a missing or conflicting size, or a number it cannot place, fails
//! with `ambiguous_prompt`; a part that cannot be made fails with `invalid_dimensions`.

use std::collections::BTreeMap;

use super::catalogue::{self, Part, describe_parameters};
use super::{DesignPlan, PlanError, parse};

/// The planner's answer with the part it chose, for the template generator.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflinePlan {
    pub plan: DesignPlan,
    pub part: Part,
    /// The catalogue entry's name (`box`, `plate_with_holes`, `hex_nut`, ...).
    pub entry: &'static str,
    /// What was understood, in mm (counts as plain numbers).
    pub parameters: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct OfflinePlanner;

impl OfflinePlanner {
    pub fn plan(&self, prompt: &str) -> Result<OfflinePlan, PlanError> {
        let mut reading = parse::read(prompt);
        let design = catalogue::design(&mut reading)?;
        let mut steps = vec![
            format!("Catalogue entry: {}", design.entry),
            format!("Understood: {}", describe_parameters(&design.parameters)),
            format!("Build: {}", design.summary),
            "Measure the solid and export it".to_owned(),
        ];
        if !design.notes.is_empty() {
            steps.push(format!("Noted, not geometry: {}", design.notes.join("; ")));
        }
        Ok(OfflinePlan {
            plan: DesignPlan {
                summary: design.summary,
                steps,
                expected: design.part.expected(),
                notes: design.notes,
            },
            part: design.part,
            entry: design.entry,
            parameters: design.parameters,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use super::*;
    use shared::error_code::ErrorCode;

    fn error(prompt: &str) -> PlanError {
        match OfflinePlanner.plan(prompt) {
            Ok(plan) => panic!("{prompt}: planned {}", plan.plan.summary),
            Err(error) => error,
        }
    }

    #[test]
    fn the_plan_shows_the_entry_and_what_was_understood() {
        let plan = OfflinePlanner
            .plan("a plate 100x50x5 mm with four 6 mm holes at the corners 10 mm from the edges")
            .unwrap();
        assert_eq!(plan.entry, "plate_with_holes");
        assert_eq!(plan.parameters["hole_count"], 4.0);
        assert_eq!(plan.parameters["edge_margin"], 10.0);
        assert_eq!(plan.plan.steps[0], "Catalogue entry: plate_with_holes");
        assert!(
            plan.plan.steps[1].contains("hole diameter 6 mm"),
            "{:?}",
            plan.plan.steps
        );
        let expected = plan.plan.expected;
        assert_eq!(expected.bbox, Some([100.0, 50.0, 5.0]));
        let volume = 100.0 * 50.0 * 5.0 - 4.0 * PI * 9.0 * 5.0;
        assert!((expected.volume.unwrap() - volume).abs() < 1e-9);
        assert_eq!(expected.solids, Some(1));
    }

    #[test]
    fn the_unsupported_message_is_short_names_the_words_and_gives_close_examples() {
        let e = error("design me a nice teapot");
        assert_eq!(e.code, ErrorCode::UnsupportedPrompt);
        assert!(e.message.contains("'teapot'"), "{}", e.message);
        assert!(e.message.len() < 300, "{} characters", e.message.len());
        let e =
            error("a cylinder 40 mm in diameter, 20 mm tall, with a 2 mm chamfer on its left face");
        assert!(e.message.contains("'left'"), "{}", e.message);
        assert!(
            e.message.contains(catalogue::CATALOGUE[1].example),
            "{}",
            e.message
        );
        assert!(e.message.len() < 300, "{} characters", e.message.len());
    }

    #[test]
    fn the_ambiguous_message_says_what_was_read_and_what_is_needed() {
        let e = error("a cylinder 40 mm in diameter");
        assert_eq!(e.code, ErrorCode::AmbiguousPrompt);
        assert!(
            e.message.contains("diameter 40 mm") && e.message.contains("height"),
            "{}",
            e.message
        );
        let e = error("a box 100x50x30 mm, 12 mm");
        assert_eq!(e.code, ErrorCode::AmbiguousPrompt);
        assert!(e.message.contains("12 mm"), "{}", e.message);
    }

    /// Words that name a material, a purpose or a way of making are recorded in the plan and
    /// change nothing else: the part is the one planned without them.
    #[test]
    fn material_and_purpose_words_are_recorded_never_refused() {
        let cases = [
            (
                "an aluminium plate 100 x 50 x 5 mm for a shelf",
                "a plate 100 x 50 x 5 mm",
                &["material: aluminium", "purpose: shelf"][..],
            ),
            (
                "a 3D printed project box 100x60x40 with 2 mm walls, for my raspberry pi",
                "a project box 100x60x40 with 2 mm walls",
                &["process: 3D printed", "purpose: my raspberry pi"][..],
            ),
            (
                "a stainless steel washer for an M8 screw",
                "a washer for an M8 screw",
                &["material: stainless steel"][..],
            ),
            (
                "a box for a car 100x50x30, in PLA",
                "a box 100x50x30",
                &["material: pla", "purpose: car"][..],
            ),
            (
                "a brass spacer for a table leg, 20 OD, 10 ID, 30 long",
                "a spacer, 20 OD, 10 ID, 30 long",
                &["material: brass", "purpose: table leg"][..],
            ),
            (
                "a machined steel spur gear, module 2, 24 teeth, 10 mm wide",
                "a spur gear, module 2, 24 teeth, 10 mm wide",
                &["process: machined", "material: steel"][..],
            ),
        ];
        for (prompt, plain, notes) in cases {
            let plan = OfflinePlanner
                .plan(prompt)
                .unwrap_or_else(|e| panic!("{prompt}: {e}"));
            let plain = OfflinePlanner.plan(plain).unwrap();
            assert_eq!(plan.part, plain.part, "{prompt}");
            assert_eq!(plan.parameters, plain.parameters, "{prompt}");
            assert_eq!(plan.plan.notes, notes, "{prompt}");
            assert!(
                plan.plan
                    .steps
                    .iter()
                    .any(|s| s.starts_with("Noted, not geometry")),
                "{:?}",
                plan.plan.steps
            );
        }
    }

    #[test]
    fn impossible_sizes_are_refused() {
        assert_eq!(error("a box 0x50x30").code, ErrorCode::InvalidDimensions);
        assert_eq!(
            error("a box 100x50x30 m").code,
            ErrorCode::InvalidDimensions
        );
        assert_eq!(error("a box -10x50x30").code, ErrorCode::InvalidDimensions);
        assert_eq!(
            error("a tube 20 mm OD, 30 mm ID, 50 mm long").code,
            ErrorCode::InvalidDimensions
        );
        assert_eq!(
            error("a 20 mm cube with 10 mm fillets").code,
            ErrorCode::InvalidDimensions
        );
    }
}
