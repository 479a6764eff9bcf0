//! Parametric parts from plain English: boxes and cylinders with dimensions and units.
//!
//! The planner never guesses: a prompt that names a feature it cannot make (a hole, a fillet,
//! another kind of part) fails with `unsupported_prompt`; a part with a missing dimension
//! fails with `ambiguous_prompt`, saying what it understood and what it needs.

use std::f64::consts::PI;

use super::prompt::{Token, tokenize};
use super::{DesignPlan, ExpectedGeometry, PlanError};

/// A part the offline planner can make, sizes in millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part {
    Box {
        length: f64,
        width: f64,
        height: f64,
    },
    Cylinder {
        radius: f64,
        height: f64,
    },
}

impl Part {
    pub fn expected(&self) -> ExpectedGeometry {
        let (bbox, volume) = match *self {
            Part::Box {
                length,
                width,
                height,
            } => ([length, width, height], length * width * height),
            Part::Cylinder { radius, height } => (
                [2.0 * radius, 2.0 * radius, height],
                PI * radius * radius * height,
            ),
        };
        ExpectedGeometry {
            bbox: Some(bbox),
            volume: Some(volume),
            solids: Some(1),
        }
    }

    pub fn describe(&self) -> String {
        match *self {
            Part::Box {
                length,
                width,
                height,
            } => format!("Box {} x {} x {} mm", fmt(length), fmt(width), fmt(height)),
            Part::Cylinder { radius, height } => format!(
                "Cylinder, diameter {} mm, height {} mm",
                fmt(2.0 * radius),
                fmt(height)
            ),
        }
    }
}

/// A number without needless decimals: 100, 12.5, 0.125.
fn fmt(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The planner's answer with the part it chose, for the template generator.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflinePlan {
    pub plan: DesignPlan,
    pub part: Part,
}

const BOX_WORDS: &[&str] = &["box", "block", "cube", "cuboid", "brick", "plate"];
const CYLINDER_WORDS: &[&str] = &["cylinder", "rod", "disc", "disk", "puck", "cylindrical"];
/// Features and parts the skeleton planner cannot make: naming one must not yield a plain box.
const UNSUPPORTED_WORDS: &[&str] = &[
    "hole",
    "holes",
    "bore",
    "drilled",
    "fillet",
    "fillets",
    "filleted",
    "chamfer",
    "chamfers",
    "chamfered",
    "rounded",
    "pocket",
    "slot",
    "slots",
    "groove",
    "cutout",
    "counterbore",
    "thread",
    "threaded",
    "hollow",
    "tube",
    "pipe",
    "sleeve",
    "ring",
    "sphere",
    "ball",
    "cone",
    "torus",
    "bracket",
    "flange",
    "washer",
    "nut",
    "bolt",
    "screw",
    "gear",
    "spring",
    "hinge",
    "wedge",
    "pyramid",
    "prism",
    "hex",
    "hexagonal",
    "star",
    "text",
    "logo",
    "assembly",
    "sketch",
];
const MAX_SIZE_MM: f64 = 10_000.0;

/// Maps a label word to the dimension it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Length,
    Width,
    Height,
    Diameter,
    Radius,
}

fn label_of(word: &str) -> Option<Label> {
    Some(match word {
        "length" | "long" | "l" => Label::Length,
        "width" | "wide" | "w" | "depth" | "deep" => Label::Width,
        "height" | "high" | "tall" | "h" | "thick" | "thickness" => Label::Height,
        "diameter" | "dia" | "d" => Label::Diameter,
        "radius" | "r" => Label::Radius,
        _ => return None,
    })
}

/// Words that may sit between a number and its label ("40 mm in diameter", "height of 20").
fn is_filler(word: &str) -> bool {
    matches!(
        word,
        "in" | "of" | "is" | "a" | "an" | "and" | "with" | "by"
    )
}

#[derive(Debug, Clone, Copy, Default)]
pub struct OfflinePlanner;

impl OfflinePlanner {
    pub fn plan(&self, prompt: &str) -> Result<OfflinePlan, PlanError> {
        let tokens = tokenize(prompt);
        let words: Vec<&str> = tokens
            .iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.as_str()),
                _ => None,
            })
            .collect();

        if let Some(feature) = words.iter().find(|w| UNSUPPORTED_WORDS.contains(w)) {
            return Err(unsupported(&format!(
                "it asks for '{feature}', which the offline planner cannot make yet"
            )));
        }
        let first_kind = words.iter().find_map(|w| {
            if BOX_WORDS.contains(w) {
                Some(true)
            } else if CYLINDER_WORDS.contains(w) {
                Some(false)
            } else {
                None
            }
        });
        let part = match first_kind {
            Some(true) => plan_box(&tokens, words.contains(&"cube"))?,
            Some(false) => plan_cylinder(&tokens)?,
            None => return Err(unsupported("it names no part the offline planner knows")),
        };
        check_sizes(&part)?;
        let summary = part.describe();
        Ok(OfflinePlan {
            plan: DesignPlan {
                steps: vec![
                    format!("Create a {}", summary.to_lowercase()),
                    "Measure the solid and export it".to_owned(),
                ],
                summary,
                expected: part.expected(),
            },
            part,
        })
    }
}

fn unsupported(reason: &str) -> PlanError {
    PlanError {
        code: "unsupported_prompt",
        message: format!(
            "The offline planner could not plan this prompt: {reason}. It understands a box, \
             block or cube with three dimensions (\"a box 100x50x30 mm\", \"a 20 mm cube\") and \
             a cylinder or rod with a diameter or radius and a height (\"a cylinder 40 mm in \
             diameter and 25 mm tall\"); units mm (default), cm, m and inches."
        ),
    }
}

fn ambiguous(understood: &str, needs: &str) -> PlanError {
    PlanError {
        code: "ambiguous_prompt",
        message: format!("Understood {understood}, but {needs}."),
    }
}

/// Numbers of the prompt in millimetres, with the unit of a dimension group (`100 x 50 x 30 cm`)
/// applied to its bare numbers.
fn numbers_mm(tokens: &[Token]) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Token::Number { .. } = tokens[i] {
            // A group: number (Times number)*
            let mut group = vec![i];
            let mut j = i + 1;
            while j + 1 < tokens.len()
                && tokens[j] == Token::Times
                && matches!(tokens[j + 1], Token::Number { .. })
            {
                group.push(j + 1);
                j += 2;
            }
            let group_unit = group.iter().rev().find_map(|&k| match tokens[k] {
                Token::Number { unit, .. } => unit,
                _ => None,
            });
            for &k in &group {
                if let Token::Number { value, unit } = tokens[k] {
                    out.push((k, value * unit.or(group_unit).unwrap_or(1.0)));
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The first run of three numbers joined by `x` / `by`, in millimetres.
fn dimension_triple(tokens: &[Token], numbers: &[(usize, f64)]) -> Option<[f64; 3]> {
    numbers.windows(3).find_map(|w| {
        let joined = w[1].0 == w[0].0 + 2
            && w[2].0 == w[1].0 + 2
            && tokens[w[0].0 + 1] == Token::Times
            && tokens[w[1].0 + 1] == Token::Times;
        joined.then_some([w[0].1, w[1].1, w[2].1])
    })
}

/// The label word before a number (`diameter 40`, `height of 20`, `Ø40`): (label, token index).
fn label_before(tokens: &[Token], index: usize) -> Option<(Label, usize)> {
    let mut k = index.checked_sub(1)?;
    if tokens[k] == Token::Diameter {
        return Some((Label::Diameter, k));
    }
    if let Token::Word(w) = &tokens[k]
        && is_filler(w)
    {
        k = k.checked_sub(1)?;
    }
    match &tokens[k] {
        Token::Word(w) => label_of(w).map(|label| (label, k)),
        _ => None,
    }
}

/// The label word after a number (`40 mm in diameter`, `25 mm tall`): (label, token index).
fn label_after(tokens: &[Token], index: usize) -> Option<(Label, usize)> {
    for (k, token) in tokens.iter().enumerate().skip(index + 1).take(2) {
        match token {
            Token::Word(w) if is_filler(w) => continue,
            Token::Word(w) => return label_of(w).map(|label| (label, k)),
            _ => return None,
        }
    }
    None
}

/// Labels each number. A label word names one number only: the one after it, unless that
/// word already named the number before it ("4 cm diameter, 2.5 cm thick").
fn labelled(tokens: &[Token], numbers: &[(usize, f64)]) -> Vec<(Label, f64)> {
    let mut used_words = Vec::new();
    let mut out = Vec::new();
    for &(index, mm) in numbers {
        let found = label_before(tokens, index)
            .filter(|(_, word)| !used_words.contains(word))
            .or_else(|| label_after(tokens, index));
        if let Some((label, word)) = found {
            used_words.push(word);
            out.push((label, mm));
        }
    }
    out
}

/// One value per label; two different values for one label are a conflict.
fn single(values: &[(Label, f64)], label: Label, name: &str) -> Result<Option<f64>, PlanError> {
    let mut found: Option<f64> = None;
    for &(l, v) in values {
        if l == label {
            match found {
                Some(previous) if (previous - v).abs() > f64::EPSILON => {
                    return Err(ambiguous(
                        &format!(
                            "two different values for the {name} ({} and {} mm)",
                            fmt(previous),
                            fmt(v)
                        ),
                        "it needs one",
                    ));
                }
                _ => found = Some(v),
            }
        }
    }
    Ok(found)
}

fn plan_box(tokens: &[Token], cube: bool) -> Result<Part, PlanError> {
    let numbers = numbers_mm(tokens);
    if let Some([length, width, height]) = dimension_triple(tokens, &numbers) {
        return Ok(Part::Box {
            length,
            width,
            height,
        });
    }
    let values = labelled(tokens, &numbers);
    let length = single(&values, Label::Length, "length")?;
    let width = single(&values, Label::Width, "width")?;
    let height = single(&values, Label::Height, "height")?;
    if let (Some(length), Some(width), Some(height)) = (length, width, height) {
        return Ok(Part::Box {
            length,
            width,
            height,
        });
    }
    if cube && numbers.len() == 1 {
        let side = numbers[0].1;
        return Ok(Part::Box {
            length: side,
            width: side,
            height: side,
        });
    }
    let understood = match numbers.len() {
        0 => "a box with no dimensions".to_owned(),
        n => format!("a box with {n} number(s)"),
    };
    Err(ambiguous(
        &understood,
        "a box needs its length, width and height, e.g. \"a box 100x50x30 mm\"",
    ))
}

fn plan_cylinder(tokens: &[Token]) -> Result<Part, PlanError> {
    let numbers = numbers_mm(tokens);
    let values = labelled(tokens, &numbers);
    let diameter = single(&values, Label::Diameter, "diameter")?;
    let radius = single(&values, Label::Radius, "radius")?;
    let height =
        single(&values, Label::Height, "height")?.or(single(&values, Label::Length, "length")?);
    let radius = match (diameter, radius) {
        (Some(d), Some(r)) if (d - 2.0 * r).abs() > 1e-9 => {
            return Err(ambiguous(
                &format!("a diameter of {} mm and a radius of {} mm", fmt(d), fmt(r)),
                "they disagree",
            ));
        }
        (Some(d), _) => Some(d / 2.0),
        (None, r) => r,
    };
    match (radius, height) {
        (Some(radius), Some(height)) => Ok(Part::Cylinder { radius, height }),
        (None, _) => Err(ambiguous(
            "a cylinder",
            "it needs a diameter or a radius, e.g. \"40 mm in diameter\"",
        )),
        (Some(radius), None) => Err(ambiguous(
            &format!("a cylinder {} mm in diameter", fmt(2.0 * radius)),
            "it needs a height, e.g. \"25 mm tall\"",
        )),
    }
}

fn check_sizes(part: &Part) -> Result<(), PlanError> {
    let sizes = match *part {
        Part::Box {
            length,
            width,
            height,
        } => vec![length, width, height],
        Part::Cylinder { radius, height } => vec![radius, height],
    };
    if sizes
        .iter()
        .all(|s| s.is_finite() && *s > 0.0 && *s <= MAX_SIZE_MM)
    {
        Ok(())
    } else {
        Err(PlanError {
            code: "invalid_dimensions",
            message: format!(
                "{} is not a part that can be made: every size must be above 0 and at most {} mm.",
                part.describe(),
                fmt(MAX_SIZE_MM)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(prompt: &str) -> Part {
        OfflinePlanner
            .plan(prompt)
            .unwrap_or_else(|e| panic!("{prompt}: {e}"))
            .part
    }

    fn error_code(prompt: &str) -> &'static str {
        OfflinePlanner.plan(prompt).unwrap_err().code
    }

    fn bx(length: f64, width: f64, height: f64) -> Part {
        Part::Box {
            length,
            width,
            height,
        }
    }

    #[test]
    fn boxes_in_many_phrasings() {
        assert_eq!(
            part("Create a simple box 100x50x30mm"),
            bx(100.0, 50.0, 30.0)
        );
        assert_eq!(part("a block 100 x 50 x 30 mm"), bx(100.0, 50.0, 30.0));
        assert_eq!(part("box 10 by 5 by 3 cm"), bx(100.0, 50.0, 30.0));
        assert_eq!(part("a 2x1x0.5 in plate"), bx(50.8, 25.4, 12.7));
        assert_eq!(
            part("a box, length 100, width 50, height 30"),
            bx(100.0, 50.0, 30.0)
        );
        assert_eq!(
            part("a box 100 mm long, 50 mm wide and 30 mm tall"),
            bx(100.0, 50.0, 30.0)
        );
        assert_eq!(part("a 20 mm cube"), bx(20.0, 20.0, 20.0));
    }

    #[test]
    fn cylinders_in_many_phrasings() {
        let c = Part::Cylinder {
            radius: 20.0,
            height: 25.0,
        };
        assert_eq!(part("a cylinder 40 mm in diameter and 25 mm tall"), c);
        assert_eq!(part("cylinder diameter 40 height 25"), c);
        assert_eq!(part("a rod with radius 20 mm and length 25 mm"), c);
        assert_eq!(part("cylinder Ø40 x 25 mm high"), c);
        assert_eq!(part("a disc 4 cm diameter, 2.5 cm thick"), c);
    }

    #[test]
    fn expected_geometry_is_exact() {
        let plan = OfflinePlanner
            .plan("a cylinder 40 mm in diameter and 25 mm tall")
            .unwrap();
        let expected = plan.plan.expected;
        assert_eq!(expected.bbox, Some([40.0, 40.0, 25.0]));
        assert!((expected.volume.unwrap() - PI * 400.0 * 25.0).abs() < 1e-9);
        assert_eq!(expected.solids, Some(1));
        let plan = OfflinePlanner.plan("box 100x50x30").unwrap();
        assert_eq!(plan.plan.expected.volume, Some(150_000.0));
        assert_eq!(plan.plan.summary, "Box 100 x 50 x 30 mm");
    }

    #[test]
    fn never_a_wrong_part() {
        assert_eq!(
            error_code("a box 100x50x30 with a 10 mm hole"),
            "unsupported_prompt"
        );
        assert_eq!(
            error_code("a sphere 20 mm in diameter"),
            "unsupported_prompt"
        );
        assert_eq!(error_code("design me a nice teapot"), "unsupported_prompt");
        assert_eq!(error_code(""), "unsupported_prompt");
    }

    #[test]
    fn missing_or_conflicting_dimensions_are_ambiguous() {
        assert_eq!(error_code("a box 100x50"), "ambiguous_prompt");
        assert_eq!(error_code("a cylinder 25 mm tall"), "ambiguous_prompt");
        assert_eq!(
            error_code("a cylinder 40 mm in diameter"),
            "ambiguous_prompt"
        );
        assert_eq!(
            error_code("a cylinder diameter 40 radius 30 height 10"),
            "ambiguous_prompt"
        );
        let message = OfflinePlanner
            .plan("a cylinder 40 mm in diameter")
            .unwrap_err()
            .message;
        assert!(
            message.contains("40 mm in diameter") && message.contains("height"),
            "{message}"
        );
    }

    #[test]
    fn impossible_sizes_are_refused() {
        assert_eq!(error_code("a box 0x50x30"), "invalid_dimensions");
        assert_eq!(error_code("a box 100x50x30 m"), "invalid_dimensions");
    }
}
