//! Offline refinement: the user's feedback on a completed design, applied to the parameters
//! the offline planner understood for it ("make it 20 mm taller", "twice as wide",
//! "40x40x40 instead", "use 10 mm holes", "remove the fillets", "add 2 mm chamfers").
//!
//! The edited parameters are written back as a canonical prompt for the same catalogue entry
//! and planned again, so a refined part passes every check a new one does. Feedback that
//! cannot be applied fails with `unsupported_feedback`, saying what was understood; every
//! number of the feedback must be used by an edit, like every number of a prompt.

use std::collections::BTreeMap;

use super::prompt::{Token, tokenize};
use super::{OfflinePlan, OfflinePlanner, PlanError, fmt};
use shared::error_code::ErrorCode;

/// One change the feedback asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// A dimension (by its role) set to a new size in mm.
    Set(Dimension, f64),
    /// A dimension changed by this many mm (negative: smaller).
    Add(Dimension, f64),
    /// A dimension (or, with `Dimension::All`, every size) multiplied by a factor.
    Scale(Dimension, f64),
    /// The box's three sizes at once ("40x40x40 instead").
    Size(Vec<f64>),
    /// The edge finish taken off.
    RemoveFinish,
    /// The holes taken out.
    RemoveHoles,
    /// Words added to the part's description ("add 2 mm fillets", "with four M5 holes").
    Append(String),
    /// A fastener's new M size ("make it M10"): its standard sizes follow.
    Metric(f64),
}

/// Which size an edit is about, by the words people use for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Height,
    Length,
    Width,
    Thickness,
    Diameter,
    Hole,
    Fillet,
    Chamfer,
    Wall,
    Teeth,
    Module,
    /// One named parameter ("the slots 40 mm long" is `slot_length`).
    Param(&'static str),
    All,
}

impl Dimension {
    fn name(self) -> &'static str {
        match self {
            Self::Height => "height",
            Self::Length => "length",
            Self::Width => "width",
            Self::Thickness => "thickness",
            Self::Diameter => "diameter",
            Self::Hole => "hole diameter",
            Self::Fillet => "fillet radius",
            Self::Chamfer => "chamfer",
            Self::Wall => "wall thickness",
            Self::Teeth => "number of teeth",
            Self::Module => "module",
            Self::Param(name) => name,
            Self::All => "every size",
        }
    }

    /// The parameters it may mean, in order; the first one the part has is used.
    fn parameters(&self) -> &[&'static str] {
        match self {
            Self::Param(name) => std::slice::from_ref(name),
            Self::Height => &["height", "length", "thickness", "leg_height", "face_width"],
            Self::Length => &["length", "height", "leg_length"],
            Self::Width => &[
                "width",
                "face_width",
                "diameter",
                "outer_diameter",
                "base_diameter",
                "across_flats",
            ],
            Self::Thickness => &[
                "thickness",
                "wall_thickness",
                "height",
                "face_width",
                "minor_radius",
            ],
            Self::Diameter => &[
                "diameter",
                "outer_diameter",
                "base_diameter",
                "shank_diameter",
            ],
            Self::Hole => &["hole_diameter", "inner_diameter", "bore_diameter"],
            Self::Fillet => &["fillet_radius"],
            Self::Chamfer => &["chamfer"],
            Self::Wall => &["wall_thickness"],
            Self::Teeth => &["teeth"],
            Self::Module => &["module"],
            Self::All => &[],
        }
    }
}

/// The dimension a word names, and whether it says bigger (+1), smaller (-1) or neither (0).
fn dimension_word(word: &str) -> Option<(Dimension, i8)> {
    use Dimension as D;
    Some(match word {
        "height" | "tall" | "high" => (D::Height, 0),
        "taller" | "higher" => (D::Height, 1),
        "lower" => (D::Height, -1),
        "length" | "long" => (D::Length, 0),
        "longer" => (D::Length, 1),
        "shorter" => (D::Length, -1),
        "width" | "wide" | "broad" => (D::Width, 0),
        "wider" | "broader" => (D::Width, 1),
        "narrower" => (D::Width, -1),
        "thickness" | "thick" => (D::Thickness, 0),
        "thicker" => (D::Thickness, 1),
        "thinner" => (D::Thickness, -1),
        "diameter" | "dia" | "od" => (D::Diameter, 0),
        "fatter" => (D::Diameter, 1),
        "hole" | "holes" | "bore" => (D::Hole, 0),
        "fillet" | "fillets" | "radius" | "rounding" => (D::Fillet, 0),
        "chamfer" | "chamfers" | "bevel" => (D::Chamfer, 0),
        "wall" | "walls" => (D::Wall, 0),
        "teeth" | "tooth" => (D::Teeth, 0),
        "module" => (D::Module, 0),
        "size" | "big" | "large" | "small" => (D::All, 0),
        "bigger" | "larger" => (D::All, 1),
        "smaller" => (D::All, -1),
        _ => return None,
    })
}

/// A factor said in words: "twice", "double", "half", "triple".
fn factor_word(word: &str) -> Option<f64> {
    Some(match word {
        "twice" | "double" | "doubled" => 2.0,
        "triple" | "tripled" | "thrice" => 3.0,
        "half" | "halve" | "halved" => 0.5,
        "quarter" => 0.25,
        _ => return None,
    })
}

/// Words that ask for something to go: "remove the fillets", "no holes", "without chamfers".
fn removal_word(word: &str) -> bool {
    matches!(
        word,
        "remove" | "no" | "without" | "drop" | "delete" | "lose" | "sharp" | "sharpen"
    )
}

/// Reads feedback into edits, or says what it could not use.
pub fn read_feedback(feedback: &str) -> Result<Vec<Edit>, String> {
    let text = feedback
        .replace('%', " percent ")
        .replace("per cent", "percent");
    let lower = text.to_lowercase();
    for marker in ["add ", "adding ", "also ", "with "] {
        if let Some(at) = lower.find(marker)
            && (at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphabetic())
        {
            let addition = lower[at + marker.len()..].trim().trim_end_matches('.');
            let names_feature = addition
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| FEATURE_WORDS.contains(&w));
            if !names_feature {
                continue;
            }
            let before = &lower[..at];
            let mut edits = if before.trim().is_empty() {
                Vec::new()
            } else {
                read_changes(&tokenize(before))?
            };
            edits.push(Edit::Append(addition.to_owned()));
            return Ok(edits);
        }
    }
    read_changes(&tokenize(&lower))
}

/// The number at `k` in mm (a bare number is mm), if it is one.
fn number_at(tokens: &[Token], k: usize) -> Option<(f64, bool)> {
    match tokens.get(k) {
        Some(Token::Number { value, unit }) => Some((value * unit.unwrap_or(1.0), unit.is_some())),
        _ => None,
    }
}

fn word_at(tokens: &[Token], k: usize) -> Option<&str> {
    match tokens.get(k) {
        Some(Token::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

/// The next dimension word from `k` on (within a few words), with its index.
fn next_dimension(tokens: &[Token], k: usize) -> Option<(usize, Dimension, i8)> {
    (k..tokens.len().min(k + 5)).find_map(|j| {
        word_at(tokens, j)
            .and_then(dimension_word)
            .map(|(d, s)| (j, d, s))
    })
}

fn read_changes(tokens: &[Token]) -> Result<Vec<Edit>, String> {
    let mut edits = Vec::new();
    let mut used = vec![false; tokens.len()];
    let mut k = 0;
    while k < tokens.len() {
        // "make it M10": a new M size for a fastener.
        if let Token::Metric(m) = tokens[k] {
            used[k] = true;
            edits.push(Edit::Metric(m));
        } else if let Some(edit) = read_one(tokens, k, &mut used) {
            edits.push(about_subject(tokens, k, edit));
        }
        k += 1;
    }
    let unused: Vec<String> = tokens
        .iter()
        .zip(&used)
        .filter(|(t, used)| !**used && matches!(t, Token::Number { .. } | Token::Metric(_)))
        .map(|(t, _)| match t {
            Token::Number { value, .. } => fmt(*value),
            Token::Metric(m) => format!("M{}", fmt(*m)),
            _ => String::new(),
        })
        .collect();
    if !unused.is_empty() {
        return Err(format!("could not tell what {} is for", unused.join(", ")));
    }
    if edits.is_empty() {
        return Err("found no size, finish or feature to change".to_owned());
    }
    Ok(edits)
}

/// The edit that starts at token `k`, marking the tokens it uses.
fn read_one(tokens: &[Token], k: usize, used: &mut [bool]) -> Option<Edit> {
    if used[k] {
        return None;
    }
    // "40x40x40": a whole new size.
    if number_at(tokens, k).is_some() && tokens.get(k + 1) == Some(&Token::Times) {
        let mut j = k + 1;
        while tokens.get(j) == Some(&Token::Times) && number_at(tokens, j + 1).is_some() {
            j += 2;
        }
        // One unit written once applies to the whole group.
        let unit = (k..j)
            .rev()
            .find_map(|i| match tokens[i] {
                Token::Number { unit: Some(u), .. } => Some(u),
                _ => None,
            })
            .unwrap_or(1.0);
        let raw: Vec<f64> = (k..j)
            .step_by(2)
            .map(|i| match tokens[i] {
                Token::Number { value, .. } => value * unit,
                _ => f64::NAN,
            })
            .collect();
        used[k..j].iter_mut().for_each(|u| *u = true);
        return Some(Edit::Size(raw));
    }
    if let Some(word) = word_at(tokens, k) {
        if removal_word(word)
            && let Some((j, d, _)) = next_dimension(tokens, k + 1)
        {
            used[k] = true;
            used[j] = true;
            return match d {
                Dimension::Fillet | Dimension::Chamfer => Some(Edit::RemoveFinish),
                Dimension::Hole => Some(Edit::RemoveHoles),
                _ => None,
            };
        }
        if let Some(factor) = factor_word(word)
            && let Some((j, d, _)) = next_dimension(tokens, k + 1)
        {
            used[k] = true;
            used[j] = true;
            return Some(Edit::Scale(d, factor));
        }
        // "increase the height by 10 mm", "reduce the width by 20 %", "add 5 mm to the
        // length", "taller by 10 mm".
        let direction = match word {
            "increase" | "raise" | "extend" | "grow" | "enlarge" | "lengthen" | "widen" | "add" => {
                1.0
            }
            "decrease" | "reduce" | "shrink" | "shorten" | "trim" | "cut" | "subtract" => -1.0,
            _ => dimension_word(word).map_or(0.0, |(_, sign)| f64::from(sign)),
        };
        let own = dimension_word(word).filter(|(_, sign)| *sign != 0);
        let dimension = match own {
            Some((d, _)) => Some((k, d, 0)),
            None => next_dimension(tokens, k + 1).or_else(|| {
                // "add 5 mm to the length": the number first.
                (k + 1..tokens.len().min(k + 4))
                    .find(|&n| number_at(tokens, n).is_some())
                    .and_then(|n| next_dimension(tokens, n + 1))
            }),
        };
        let window = k + 1..tokens.len().min(k + 8);
        if direction != 0.0
            && let Some((j, d, _)) = dimension
            && let Some(n) = window
                .clone()
                .find(|&n| !used[n] && number_at(tokens, n).is_some())
            // "by" reaches here as the `Times` token ("taller by 10 mm").
            && (own.is_none() || tokens.get(k + 1) == Some(&Token::Times))
        {
            let (value, _) = number_at(tokens, n)?;
            used[k] = true;
            used[j] = true;
            used[n] = true;
            if word_at(tokens, n + 1) == Some("percent") {
                used[n + 1] = true;
                return Some(Edit::Scale(d, 1.0 + direction * value / 100.0));
            }
            return Some(Edit::Add(d, direction * value));
        }
    }
    let (value, _) = number_at(tokens, k)?;
    // "3 times as wide", "2x taller".
    if word_at(tokens, k + 1) == Some("times")
        && let Some((j, d, _)) = next_dimension(tokens, k + 2)
    {
        used[k] = true;
        used[k + 1] = true;
        used[j] = true;
        return Some(Edit::Scale(d, value));
    }
    // "20 % longer", "10 percent smaller".
    if word_at(tokens, k + 1) == Some("percent")
        && let Some((j, d, sign)) = next_dimension(tokens, k + 2)
        && sign != 0
    {
        used[k] = true;
        used[k + 1] = true;
        used[j] = true;
        return Some(Edit::Scale(d, 1.0 + f64::from(sign) * value / 100.0));
    }
    // "20 mm taller", "5 mm shorter", "40 mm tall", "8 mm holes".
    if let Some((j, d, sign)) = next_dimension(tokens, k + 1)
        && (k + 1..j).all(|i| matches!(word_at(tokens, i), Some(w) if FILLERS.contains(&w)))
    {
        used[k] = true;
        used[j] = true;
        return Some(match sign {
            0 => Edit::Set(d, value),
            s => Edit::Add(d, f64::from(s) * value),
        });
    }
    // "height 40", "the length to 120 mm", "holes of 10 mm".
    let before = (k.saturating_sub(4)..k).rev().find_map(|i| {
        word_at(tokens, i)
            .and_then(dimension_word)
            .filter(|(_, s)| *s == 0)
            .map(|(d, _)| (i, d))
    });
    if let Some((i, d)) = before
        && (i + 1..k).all(|n| matches!(word_at(tokens, n), Some(w) if FILLERS.contains(&w)))
    {
        used[k] = true;
        used[i] = true;
        return Some(Edit::Set(d, value));
    }
    None
}

/// "make the slots 40 mm long", "the hub 30 mm wide": a size of a feature named just before
/// it is that feature's, not the part's.
fn about_subject(tokens: &[Token], k: usize, edit: Edit) -> Edit {
    let subject = (k.saturating_sub(4)..k)
        .rev()
        .find_map(|i| word_at(tokens, i).filter(|w| SUBJECTS.contains(w)));
    let named = |d: Dimension| -> Option<&'static str> {
        use Dimension as D;
        Some(match (subject?, d) {
            ("slot" | "slots", D::Length) => "slot_length",
            ("slot" | "slots", D::Width | D::Diameter) => "slot_width",
            ("hub", D::Length | D::Height | D::Thickness) => "hub_length",
            ("hub", D::Width | D::Diameter) => "hub_diameter",
            ("gusset" | "gussets", D::Length | D::Height) => "gusset_size",
            ("gusset" | "gussets", D::Thickness | D::Width) => "gusset_thickness",
            ("head", D::Height | D::Thickness) => "head_height",
            ("head", D::Width | D::Diameter) => "across_flats",
            ("floor" | "base", D::Thickness | D::Height) => "floor_thickness",
            ("lid", D::Thickness) => "wall_thickness",
            _ => return None,
        })
    };
    match edit {
        Edit::Set(d, v) => named(d).map_or(Edit::Set(d, v), |n| Edit::Set(Dimension::Param(n), v)),
        Edit::Add(d, v) => named(d).map_or(Edit::Add(d, v), |n| Edit::Add(Dimension::Param(n), v)),
        Edit::Scale(d, f) => {
            named(d).map_or(Edit::Scale(d, f), |n| Edit::Scale(Dimension::Param(n), f))
        }
        other => other,
    }
}

/// Feature words a size in feedback may be about.
const SUBJECTS: &[&str] = &[
    "slot", "slots", "hub", "gusset", "gussets", "head", "floor", "base", "lid",
];

/// Words that may sit between a number and the size it gives.
const FILLERS: &[&str] = &[
    "to", "of", "the", "a", "an", "be", "is", "at", "mm", "in", "diameter", "more", "less", "as",
    "much", "and", "it", "its", "make", "instead", "each", "all", "should", "be", "now", "set",
    "change", "changed", "by",
];

/// Words after "add" / "with" that name a feature to add rather than a size to grow.
const FEATURE_WORDS: &[&str] = &[
    "hole",
    "holes",
    "fillet",
    "fillets",
    "chamfer",
    "chamfers",
    "pocket",
    "bore",
    "rounded",
    "grid",
    "recess",
    "chamfered",
    "filleted",
    "bevel",
    "lid",
    "gusset",
    "gussets",
    "slot",
    "slots",
    "hub",
    "countersunk",
    "counterbored",
];

/// Applies the edits to the parameters of the previous plan.
fn apply(
    parameters: &BTreeMap<String, f64>,
    edits: &[Edit],
) -> Result<(BTreeMap<String, f64>, Vec<String>), String> {
    let mut params = parameters.clone();
    let mut appended = Vec::new();
    for edit in edits {
        match edit {
            Edit::Set(d, v) => *slot(&mut params, *d)? = *v,
            Edit::Add(Dimension::All, _) => {
                return Err("'bigger' or 'smaller' by a length is not one change".to_owned());
            }
            Edit::Add(d, v) => *slot(&mut params, *d)? += v,
            Edit::Scale(Dimension::All, f) => {
                for (name, value) in params.iter_mut() {
                    if !is_count(name) {
                        *value *= f;
                    }
                }
            }
            Edit::Scale(d, f) => *slot(&mut params, *d)? *= f,
            Edit::Size(values) => {
                let names = ["length", "width", "height"];
                if values.len() != 3 || !names.iter().all(|n| params.contains_key(*n)) {
                    return Err(format!(
                        "a new size of {} numbers does not fit this part",
                        values.len()
                    ));
                }
                for (name, value) in names.iter().zip(values) {
                    params.insert((*name).to_owned(), *value);
                }
            }
            Edit::RemoveFinish => {
                let before = params.len();
                params.retain(|name, _| !name.contains("fillet") && !name.ends_with("chamfer"));
                if params.len() == before {
                    return Err("the part has no fillets or chamfers to remove".to_owned());
                }
            }
            Edit::RemoveHoles => {
                let before = params.len();
                params.retain(|name, _| {
                    !name.starts_with("hole")
                        && !name.starts_with("grid")
                        && !name.starts_with("pattern_")
                        && !name.starts_with("countersink")
                        && !name.starts_with("counterbore")
                        && name != "edge_margin"
                        && name != "row_spacing"
                });
                if params.len() == before {
                    return Err("the part has no holes to remove".to_owned());
                }
            }
            Edit::Append(words) => appended.push(words.clone()),
            Edit::Metric(m) => {
                if !params.contains_key("metric_size") {
                    return Err(format!("M{} is a size for a standard fastener", fmt(*m)));
                }
                // The standard sizes of the new M size replace the old one's.
                params.retain(|name, _| {
                    !matches!(
                        name.as_str(),
                        "shank_diameter"
                            | "across_flats"
                            | "head_height"
                            | "inner_diameter"
                            | "outer_diameter"
                            | "thickness"
                            | "bore_diameter"
                            | "height"
                    )
                });
                params.insert("metric_size".to_owned(), *m);
            }
        }
    }
    Ok((params, appended))
}

/// Parameters that are counts, angles or flags: "twice as big" leaves them as they are.
fn is_count(name: &str) -> bool {
    name.ends_with("count")
        || name.starts_with("grid_")
        || matches!(
            name,
            "metric_size" | "teeth" | "pressure_angle" | "lid" | "slots_across" | "holes_per_leg"
        )
}

/// The parameter an edit of `d` changes; a finish named in feedback replaces the other one.
fn slot(params: &mut BTreeMap<String, f64>, d: Dimension) -> Result<&mut f64, String> {
    let name = match d {
        Dimension::Fillet | Dimension::Chamfer => {
            let wanted = if d == Dimension::Fillet {
                "fillet_radius"
            } else {
                "chamfer"
            };
            let current = params
                .keys()
                .find(|k| k.ends_with("fillet_radius") || k.ends_with("chamfer"))
                .cloned();
            match current {
                Some(c) if c.ends_with(wanted) => c,
                Some(c) => {
                    // "use chamfers instead of fillets": the same edges, the other finish.
                    let value = params.remove(&c).unwrap_or_default();
                    let renamed = c.replace(
                        if d == Dimension::Fillet {
                            "chamfer"
                        } else {
                            "fillet_radius"
                        },
                        wanted,
                    );
                    params.insert(renamed.clone(), value);
                    renamed
                }
                None => {
                    params.insert(wanted.to_owned(), 0.0);
                    wanted.to_owned()
                }
            }
        }
        _ => d
            .parameters()
            .iter()
            .find(|n| params.contains_key(**n))
            .map(|n| (*n).to_owned())
            .ok_or_else(|| format!("this part has no {}", d.name()))?,
    };
    params
        .get_mut(&name)
        .ok_or_else(|| format!("this part has no {}", d.name()))
}

/// A prompt the offline planner reads back as the same entry with these parameters.
fn canonical_prompt(entry: &str, summary: &str, p: &BTreeMap<String, f64>) -> Option<String> {
    let v = |name: &str| p.get(name).map(|v| fmt(*v));
    // ", shank diameter 8 mm, head height 5.3 mm" for the sizes the part has.
    let sizes = |labels: &[(&str, &str)]| -> String {
        labels
            .iter()
            .filter_map(|(label, name)| v(name).map(|value| format!(", {label} {value} mm")))
            .collect()
    };
    let mut prompt = match entry {
        "box" | "plate_with_holes" => {
            format!(
                "a box {} x {} x {} mm",
                v("length")?,
                v("width")?,
                v("height")?
            )
        }
        "cylinder" => {
            let mut text = format!(
                "a cylinder {} mm in diameter and {} mm tall",
                v("diameter")?,
                v("height")?
            );
            // Its one hole is a cross hole; the holes below are for boxes and plates.
            if let (Some(d), Some(z)) = (v("hole_diameter"), v("hole_centre_height")) {
                text.push_str(&format!(
                    ", with a {d} mm cross hole {z} mm from the bottom"
                ));
            }
            text
        }
        "sphere" => format!("a sphere {} mm in diameter", v("diameter")?),
        "cone" => format!(
            "a truncated cone, base diameter {}, top diameter {}, {} mm high",
            v("base_diameter")?,
            v("top_diameter")?,
            v("height")?
        )
        .replace(", top diameter 0,", ","),
        "torus" => format!(
            "a torus with major radius {} mm and minor radius {} mm",
            v("major_radius")?,
            v("minor_radius")?
        ),
        "tube" => format!(
            "a tube {} mm OD, {} mm ID, {} mm long",
            v("outer_diameter")?,
            v("inner_diameter")?,
            v("length")?
        ),
        "enclosure" => format!(
            "an enclosure {} x {} x {} mm with {} mm walls and a {} mm floor{}",
            v("length")?,
            v("width")?,
            v("height")?,
            v("wall_thickness")?,
            v("floor_thickness")?,
            if p.contains_key("lid") {
                ", with a lid"
            } else {
                ""
            }
        ),
        "spur_gear" => format!(
            "a spur gear, module {}, {} teeth, pressure angle {} degrees, face width {} mm{}",
            v("module")?,
            v("teeth")?,
            v("pressure_angle")?,
            v("face_width")?,
            v("bore_diameter").map_or(String::new(), |b| format!(", with a {b} mm bore"))
        ),
        "hex_bolt" => format!(
            "a{} hex bolt {} mm long{}",
            v("metric_size").map_or(String::new(), |m| format!("n M{m}")),
            v("length")?,
            sizes(&[
                ("shank diameter", "shank_diameter"),
                ("head across flats", "across_flats"),
                ("head height", "head_height"),
            ])
        ),
        "hex_standoff" => format!(
            "a{} hex standoff {} mm long{}",
            v("metric_size").map_or(String::new(), |m| format!("n M{m}")),
            v("length")?,
            sizes(&[("across flats", "across_flats"), ("bore", "bore_diameter")])
        ),
        "washer" => format!(
            "a{} washer{}",
            v("metric_size").map_or(String::new(), |m| format!("n M{m}")),
            sizes(&[
                ("inner diameter", "inner_diameter"),
                ("outer diameter", "outer_diameter"),
                ("thickness", "thickness"),
            ])
        ),
        "hex_nut" => format!(
            "a{} hex nut{}",
            v("metric_size").map_or(String::new(), |m| format!("n M{m}")),
            sizes(&[
                ("across flats", "across_flats"),
                ("height", "height"),
                ("bore", "bore_diameter"),
            ])
        ),
        "spacer" => format!(
            "a spacer {} mm OD, {} mm ID, {} mm long",
            v("outer_diameter")?,
            v("inner_diameter")?,
            v("length")?
        ),
        "block_with_pocket" => {
            let block = format!(
                "a block {} x {} x {} mm",
                v("length")?,
                v("width")?,
                v("height")?
            );
            let pocket = match (v("pocket_length"), v("pocket_width"), v("pocket_diameter")) {
                (Some(l), Some(w), _) => {
                    format!(" with a {l} x {w} x {} mm pocket", v("pocket_depth")?)
                }
                (_, _, Some(d)) => {
                    format!(" with a {d} mm blind hole {} mm deep", v("pocket_depth")?)
                }
                _ => return None,
            };
            format!("{block}{pocket}")
        }
        "flange" => {
            // The bolt holes are part of the flange's own words.
            return Some(format!(
                "a flange {} mm OD, {} mm bore, {} mm thick with {} holes of {} mm on a {} mm pitch \
             circle",
                v("outer_diameter")?,
                v("inner_diameter")?,
                v("thickness")?,
                v("hole_count")?,
                v("hole_diameter")?,
                v("pitch_circle_diameter")?
            ));
        }
        "pulley" => {
            let mut text = format!(
                "a pulley {} mm in diameter, {} mm wide",
                v("diameter")?,
                v("width")?
            );
            if let (Some(d), Some(l)) = (v("hub_diameter"), v("hub_length")) {
                text.push_str(&format!(", with a {d} mm hub {l} mm long"));
            }
            if let Some(b) = v("bore_diameter") {
                text.push_str(&format!(", with a {b} mm bore"));
            }
            text
        }
        "stepped_shaft" => {
            let mut sections = Vec::new();
            for n in 1.. {
                match (
                    v(&format!("section_{n}_diameter")),
                    v(&format!("section_{n}_length")),
                ) {
                    (Some(d), Some(l)) => sections.push(format!("{d} mm diameter {l} mm long")),
                    _ => break,
                }
            }
            format!("a stepped shaft, {}", sections.join(", then "))
        }
        "plate_with_slots" => format!(
            "a plate {} x {} x {} mm with {} slots, {} mm long and {} mm wide{}{}",
            v("length")?,
            v("width")?,
            v("height")?,
            v("slot_count")?,
            v("slot_length")?,
            v("slot_width")?,
            v("slot_spacing").map_or(String::new(), |s| format!(", {s} mm apart")),
            if p.contains_key("slots_across") {
                ", crosswise"
            } else {
                ""
            }
        ),
        "l_bracket" => {
            let mut text = format!(
                "an L-bracket, length {}, height {}, thickness {}, width {}",
                v("leg_length")?,
                v("leg_height")?,
                v("thickness")?,
                v("width")?
            );
            if let (Some(n), Some(d)) = (v("holes_per_leg"), v("hole_diameter")) {
                text.push_str(&format!(", with {n} {d} mm holes in each leg"));
            }
            if let (Some(n), Some(g), Some(t)) =
                (v("gusset_count"), v("gusset_size"), v("gusset_thickness"))
            {
                text.push_str(&format!(", with {n} gussets of {g} mm, {t} mm thick"));
            }
            return Some(text);
        }
        _ => return None,
    };
    if let Some(d) = v("hole_diameter").filter(|_| entry != "cylinder") {
        let holes = if let (Some(c), Some(r)) = (v("grid_columns"), v("grid_rows")) {
            format!(", with a {c} x {r} grid of {d} mm holes")
        } else if let (Some(a), Some(b)) = (v("pattern_length"), v("pattern_width")) {
            format!(", with four {d} mm holes on a {a} x {b} mm rectangle")
        } else if summary.contains("at the corners") {
            format!(", with four {d} mm holes at the corners")
        } else if let Some(n) = v("hole_count").filter(|n| n != "1") {
            format!(", with {n} {d} mm holes in a row")
        } else {
            format!(", with a {d} mm hole through the middle")
        };
        prompt.push_str(&holes);
        if let (Some(s), Some(r)) = (v("hole_spacing"), v("row_spacing")) {
            prompt.push_str(&format!(", {s} x {r} mm apart"));
        } else if let Some(s) = v("hole_spacing") {
            prompt.push_str(&format!(", {s} mm apart"));
        } else if let Some(m) = v("edge_margin") {
            prompt.push_str(&format!(", {m} mm from the edges"));
        }
        if let Some(depth) = v("hole_depth") {
            prompt.push_str(&format!(", {depth} mm deep"));
        }
        if let Some(c) = v("countersink_diameter") {
            prompt.push_str(&format!(", countersunk to {c} mm"));
        }
        if let (Some(c), Some(depth)) = (v("counterbore_diameter"), v("counterbore_depth")) {
            prompt.push_str(&format!(", counterbored {c} mm diameter, {depth} mm deep"));
        }
        if summary.contains("running lengthwise") {
            prompt.push_str(", lengthwise");
        } else if summary.contains("running front to back") {
            prompt.push_str(", front to back");
        }
    }
    for (name, value) in p {
        let (prefix, noun) = if let Some(prefix) = name.strip_suffix("fillet_radius") {
            (prefix, "fillets")
        } else if let Some(prefix) = name.strip_suffix("chamfer") {
            (prefix, "chamfers")
        } else {
            continue;
        };
        let on = prefix.trim_end_matches('_').replace('_', " ");
        let which = match on.as_str() {
            "" => String::new(),
            edges if edges.ends_with("rim") => format!(" on the {edges}"),
            edges => format!(" on the {edges}s"),
        };
        prompt.push_str(&format!(", with {} mm {noun}{which}", fmt(*value)));
    }
    Some(prompt)
}

/// The design refined: the prompt with each earlier refine's feedback applied, oldest first;
/// then this feedback applied to it.
pub fn refine(prompt: &str, earlier: &[String], feedback: &str) -> Result<OfflinePlan, PlanError> {
    let mut design = OfflinePlanner.plan(prompt)?;
    for step in earlier {
        design = refine_plan(design, step)?;
    }
    refine_plan(design, feedback)
}

/// Applies the feedback to what was understood for `previous`, and plans the result.
/// Feedback that restates a whole part ("a box 120x50x30 mm") is planned as it is.
fn refine_plan(previous: OfflinePlan, feedback: &str) -> Result<OfflinePlan, PlanError> {
    if let Ok(plan) = OfflinePlanner.plan(feedback) {
        return Ok(plan);
    }
    let fail = |why: String| PlanError {
        code: ErrorCode::UnsupportedFeedback,
        message: format!(
            "The offline planner could not apply the feedback to the {} ({}): {why}. The \
             previous result is kept. Say the change as a size, e.g. \"make it 20 mm taller\", \
             \"twice as wide\", \"use 8 mm holes\", \"remove the fillets\".",
            previous.entry.replace('_', " "),
            previous.plan.summary
        ),
    };
    let edits = read_feedback(feedback).map_err(&fail)?;
    let (params, appended) = apply(&previous.parameters, &edits).map_err(&fail)?;
    let mut text = canonical_prompt(previous.entry, &previous.plan.summary, &params)
        .ok_or_else(|| fail(format!("a {} cannot be edited offline yet", previous.entry)))?;
    for words in appended {
        text.push_str(", with ");
        text.push_str(&words);
    }
    OfflinePlanner.plan(&text).map_err(|error| {
        fail(format!(
            "understood {}, which gives \"{text}\", but {}",
            describe_edits(&edits),
            error.message
        ))
    })
}

fn describe_edits(edits: &[Edit]) -> String {
    edits
        .iter()
        .map(|e| match e {
            Edit::Set(d, v) => format!("{} {} mm", d.name(), fmt(*v)),
            Edit::Add(d, v) => format!("{} {:+} mm", d.name(), v),
            Edit::Scale(d, f) => format!("{} x{}", d.name(), fmt(*f)),
            Edit::Size(values) => format!(
                "size {}",
                values
                    .iter()
                    .map(|v| fmt(*v))
                    .collect::<Vec<_>>()
                    .join(" x ")
            ),
            Edit::RemoveFinish => "no edge finish".to_owned(),
            Edit::RemoveHoles => "no holes".to_owned(),
            Edit::Append(words) => format!("add \"{words}\""),
            Edit::Metric(m) => format!("size M{}", fmt(*m)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (prompt, feedback, parameters the refined plan must have)
    /// Parameters a refined plan must have, by name.
    type Expected = &'static [(&'static str, f64)];

    const EDITS: &[(&str, &str, Expected)] = &[
        (
            "a box 100x50x30 mm",
            "make it 20 mm taller",
            &[("height", 50.0)],
        ),
        (
            "a box 100x50x30 mm",
            "Make it 20mm taller please",
            &[("height", 50.0)],
        ),
        ("a box 100x50x30 mm", "10 mm shorter", &[("length", 90.0)]),
        (
            "a box 100x50x30 mm",
            "could you make it taller by 10 mm?",
            &[("height", 40.0)],
        ),
        ("a box 100x50x30 mm", "twice as wide", &[("width", 100.0)]),
        ("a box 100x50x30 mm", "half as tall", &[("height", 15.0)]),
        (
            "a box 100x50x30 mm",
            "make it 50% longer",
            &[("length", 150.0)],
        ),
        (
            "a box 100x50x30 mm",
            "make it 40x40x40 instead",
            &[("length", 40.0), ("width", 40.0), ("height", 40.0)],
        ),
        (
            "a box 100x50x30 mm",
            "increase the height by 10 mm",
            &[("height", 40.0)],
        ),
        (
            "a box 100x50x30 mm",
            "reduce the width by 20%",
            &[("width", 40.0)],
        ),
        (
            "a box 100x50x30 mm",
            "add 5 mm to the length",
            &[("length", 105.0)],
        ),
        (
            "a box 100x50x30 mm",
            "the height should be 45 mm",
            &[("height", 45.0)],
        ),
        (
            "a box 100x50x30 mm",
            "change the length to 120",
            &[("length", 120.0)],
        ),
        (
            "a box 100x50x30 mm",
            "make it 3 times as long",
            &[("length", 300.0)],
        ),
        (
            "a box 100x50x30 mm",
            "make it twice as big",
            &[("length", 200.0), ("width", 100.0), ("height", 60.0)],
        ),
        (
            "a box 100x50x30 mm",
            "make it 2 inches tall",
            &[("height", 50.8)],
        ),
        (
            "a box 100x50x30 mm",
            "add 3 mm fillets",
            &[("fillet_radius", 3.0)],
        ),
        (
            "a box 100x50x30 mm",
            "add 2 mm chamfers on the vertical edges",
            &[("vertical_edge_chamfer", 2.0)],
        ),
        (
            "a box 100x50x30 mm with 3 mm fillets",
            "remove the fillets",
            &[("length", 100.0)],
        ),
        (
            "a box 100x50x30 mm with 3 mm fillets",
            "use 1 mm fillets",
            &[("fillet_radius", 1.0)],
        ),
        (
            "a box 100x50x30 mm with 3 mm fillets",
            "2 mm chamfers instead",
            &[("chamfer", 2.0)],
        ),
        (
            "a box 100x50x30 mm",
            "add four 6 mm holes at the corners",
            &[("hole_count", 4.0), ("hole_diameter", 6.0)],
        ),
        (
            "a plate 100x60x5 mm with four 6 mm holes at the corners 8 mm from the edges",
            "use 8 mm holes instead",
            &[
                ("hole_diameter", 8.0),
                ("edge_margin", 8.0),
                ("hole_count", 4.0),
            ],
        ),
        (
            "a plate 100x60x5 mm with four 6 mm holes at the corners",
            "make the holes 4 mm",
            &[("hole_diameter", 4.0)],
        ),
        (
            "a plate 100x60x5 mm with four 6 mm holes at the corners",
            "remove the holes",
            &[("length", 100.0)],
        ),
        (
            "a plate 100x60x5 mm with four 6 mm holes at the corners",
            "make it 3 mm thicker",
            &[("height", 8.0)],
        ),
        (
            "a bar 200 x 30 x 10 mm with 3 holes in a row 50 mm apart, 8 mm diameter",
            "make it 50 mm longer",
            &[
                ("length", 250.0),
                ("hole_spacing", 50.0),
                ("hole_count", 3.0),
            ],
        ),
        (
            "a cylinder 40 mm in diameter and 25 mm tall",
            "make it 10 mm taller",
            &[("height", 35.0)],
        ),
        (
            "a cylinder 40 mm in diameter and 25 mm tall",
            "diameter 60",
            &[("diameter", 60.0)],
        ),
        (
            "a cylinder 40 mm in diameter and 25 mm tall",
            "twice as wide",
            &[("diameter", 80.0)],
        ),
        (
            "a cylinder 40 mm in diameter and 25 mm tall",
            "add a 2 mm chamfer on the top rim",
            &[("top_rim_chamfer", 2.0)],
        ),
        // A cross hole stays a cross hole (not a bore) through every edit.
        (
            "a 25 mm rod 80 mm long with a 5 mm cross hole 20 mm from the top",
            "use 8 mm holes instead",
            &[("hole_diameter", 8.0), ("hole_centre_height", 60.0)],
        ),
        (
            "a 25 mm rod 80 mm long with a 5 mm cross hole",
            "twice as big",
            &[
                ("diameter", 50.0),
                ("height", 160.0),
                ("hole_diameter", 10.0),
                ("hole_centre_height", 80.0),
            ],
        ),
        (
            "a tube 30 mm OD with a 2 mm wall, 100 mm long",
            "make it 50 mm shorter",
            &[("length", 50.0)],
        ),
        (
            "a sphere 50 mm in diameter",
            "make it 20% smaller",
            &[("diameter", 40.0)],
        ),
        (
            "a torus with major radius 30 mm and minor radius 5 mm",
            "make it twice as thick",
            &[("minor_radius", 10.0)],
        ),
        (
            "a project box 120 x 80 x 40 mm with 2 mm walls and a lid",
            "make it 10 mm taller",
            &[("height", 50.0), ("wall_thickness", 2.0), ("lid", 1.0)],
        ),
        (
            "a project box 120 x 80 x 40 mm with 2 mm walls",
            "make the walls 3 mm",
            &[("wall_thickness", 3.0), ("floor_thickness", 2.0)],
        ),
        (
            "a spur gear, module 2, 24 teeth, 10 mm wide",
            "30 teeth instead",
            &[("teeth", 30.0), ("module", 2.0), ("face_width", 10.0)],
        ),
        (
            "a spur gear, module 2, 24 teeth, 10 mm wide with an 8 mm bore",
            "make it 5 mm thicker",
            &[("face_width", 15.0), ("bore_diameter", 8.0)],
        ),
        (
            "a spur gear, module 2, 24 teeth, 10 mm wide",
            "module 1.5",
            &[("module", 1.5), ("teeth", 24.0)],
        ),
        (
            "an M8 x 40 hex bolt",
            "make it 20 mm longer",
            &[
                ("length", 60.0),
                ("metric_size", 8.0),
                ("across_flats", 13.0),
            ],
        ),
        (
            "a plate 120 x 60 x 5 mm with two 30 x 8 mm slots",
            "make it 20 mm longer",
            &[
                ("length", 140.0),
                ("slot_count", 2.0),
                ("slot_length", 30.0),
            ],
        ),
        (
            "a stepped shaft: 20 mm diameter 50 mm long, then 12 mm diameter 30 mm long",
            "make it twice as big",
            &[("section_1_diameter", 40.0), ("section_2_length", 60.0)],
        ),
        (
            "a pulley 60 mm in diameter, 20 mm wide, with a 25 mm hub 10 mm long and an 8 mm bore",
            "make it 80 mm in diameter",
            &[
                ("diameter", 80.0),
                ("hub_diameter", 25.0),
                ("bore_diameter", 8.0),
            ],
        ),
        (
            "a pulley 60 mm in diameter, 20 mm wide, with a 25 mm hub 10 mm long and an 8 mm bore",
            "use a 10 mm bore",
            &[("bore_diameter", 10.0), ("hub_length", 10.0)],
        ),
        (
            "an M3 hex standoff 20 mm long",
            "make it 5 mm shorter",
            &[("length", 15.0), ("across_flats", 5.5)],
        ),
        (
            "a shelf bracket 150 x 100 x 5 mm, 40 mm wide",
            "make it 10 mm wider",
            &[
                ("width", 50.0),
                ("gusset_count", 2.0),
                ("gusset_size", 47.5),
            ],
        ),
        (
            "a plate 100x60x6 mm with four countersunk M5 holes at the corners",
            "make it 4 mm thicker",
            &[
                ("height", 10.0),
                ("countersink_diameter", 11.2),
                ("hole_count", 4.0),
            ],
        ),
        (
            "a block 80 x 40 x 40 mm with a 10 mm hole through the 80 mm length",
            "make it 20 mm longer",
            &[("length", 100.0), ("hole_diameter", 10.0)],
        ),
        (
            "a plate 100x50x10 with four 5 mm holes 6 mm deep at the corners",
            "use 6 mm holes",
            &[("hole_diameter", 6.0), ("hole_depth", 6.0)],
        ),
        (
            "an M8 x 40 hex bolt",
            "make it M10",
            &[
                ("metric_size", 10.0),
                ("across_flats", 16.0),
                ("head_height", 6.4),
                ("length", 40.0),
            ],
        ),
        (
            "an M8 washer",
            "make it 2 mm thicker",
            &[("thickness", 3.6), ("inner_diameter", 8.4)],
        ),
        (
            "a hex nut M10",
            "M12 instead",
            &[("metric_size", 12.0), ("across_flats", 18.0)],
        ),
        (
            "a project box 120 x 80 x 40 mm with 2 mm walls",
            "add a lid",
            &[("lid", 1.0), ("height", 40.0)],
        ),
        (
            "a plate 120 x 60 x 5 mm with two 30 x 8 mm slots",
            "make the slots 40 mm long",
            &[("slot_length", 40.0), ("length", 120.0)],
        ),
        (
            "a pulley 60 mm in diameter, 20 mm wide, with a 25 mm hub 10 mm long and an 8 mm bore",
            "make the hub 15 mm longer",
            &[("hub_length", 25.0), ("width", 20.0)],
        ),
        (
            "a flange 120 mm OD, 60 mm bore, 12 mm thick with 6 holes of 10 mm on a 90 mm pitch circle",
            "make it 3 mm thicker",
            &[("thickness", 15.0), ("hole_count", 6.0)],
        ),
        (
            "a block 60x40x30 mm with a 30x20x10 mm pocket",
            "make it 10 mm taller",
            &[
                ("height", 40.0),
                ("pocket_depth", 10.0),
                ("pocket_length", 30.0),
            ],
        ),
        (
            "a block 50x50x20 with a 20 mm blind hole 8 mm deep",
            "make it 10 mm taller",
            &[
                ("height", 30.0),
                ("pocket_diameter", 20.0),
                ("pocket_depth", 8.0),
            ],
        ),
        (
            "an M4 spacer 12 mm long",
            "make it 20 mm long",
            &[("length", 20.0), ("inner_diameter", 4.5)],
        ),
    ];

    #[test]
    fn feedback_edits_the_completed_plan() {
        for (prompt, feedback, expected) in EDITS {
            let refined = refine(prompt, &[], feedback)
                .unwrap_or_else(|e| panic!("{prompt} + {feedback}: {}", e.message));
            for (name, value) in *expected {
                let got = refined.parameters.get(*name).copied();
                assert!(
                    got.is_some_and(|g| (g - value).abs() < 1e-9),
                    "{prompt} + {feedback}: {name} is {got:?}, not {value}; {:?}",
                    refined.parameters
                );
            }
        }
    }

    #[test]
    fn successive_refines_build_on_each_other() {
        let earlier = [
            "make it 20 mm taller".to_owned(),
            "add 2 mm fillets".to_owned(),
        ];
        let refined = refine("a box 100x50x30 mm", &earlier, "twice as wide").unwrap();
        assert_eq!(refined.parameters["height"], 50.0);
        assert_eq!(refined.parameters["width"], 100.0);
        assert_eq!(refined.parameters["fillet_radius"], 2.0);
    }

    #[test]
    fn removed_features_are_gone() {
        let refined = refine("a box 100x50x30 mm with 3 mm fillets", &[], "no fillets").unwrap();
        assert!(!refined.parameters.contains_key("fillet_radius"));
        let refined = refine(
            "a plate 100x60x5 mm with four 6 mm holes at the corners",
            &[],
            "remove the holes",
        )
        .unwrap();
        assert_eq!(refined.entry, "box");
        let refined = refine(
            "a 25 mm rod 80 mm long with a 5 mm cross hole",
            &[],
            "remove the holes",
        )
        .unwrap();
        assert_eq!(refined.entry, "cylinder");
        assert!(refined.part.cuts.is_empty());
    }

    #[test]
    fn feedback_it_cannot_apply_says_what_it_understood() {
        for (prompt, feedback) in [
            ("a box 100x50x30 mm", "nicer please"),
            ("a box 100x50x30 mm", "make it blue"),
            ("a box 100x50x30 mm", "make it 20 mm"),
            ("a box 100x50x30 mm", "remove the holes"),
            ("a box 100x50x30 mm", "make it 200 mm taller and 7"),
            ("a box 100x50x30 mm", "make it 40x40 instead"),
            ("a box 100x50x30 mm", "make it 120 mm narrower"),
            ("a sphere 50 mm in diameter", "make it 2 mm thicker"),
            ("a box 100x50x30 mm", "make it M10"),
            (
                "a stepped shaft: 20 mm diameter 50 mm long, then 12 mm diameter 30 mm long",
                "make it 10 mm longer",
            ),
        ] {
            let error = refine(prompt, &[], feedback)
                .err()
                .unwrap_or_else(|| panic!("{feedback}"));
            assert_eq!(
                error.code,
                ErrorCode::UnsupportedFeedback,
                "{feedback}: {}",
                error.message
            );
            assert!(
                error.message.contains("previous result is kept"),
                "{}",
                error.message
            );
        }
    }
}
