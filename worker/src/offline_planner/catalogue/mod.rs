//! The catalogue of parametric parts: which entry a prompt names, and for each entry its
//! parameters, defaults, validation, exact expected geometry and FreeCAD template.
//!
//! # Layout
//! - [`geometry`]: bodies and cuts; exact volume and bounding box, fit checks, the script.
//! - [`solids`]: box / cube, cylinder, sphere, cone and truncated cone, torus; edge finishes.
//! - [`plates`]: plate or block with holes (through, blind, countersunk, counterbored, along
//!   any axis, in any layout), with obround slots; block with a pocket or blind hole.
//! - [`rings`]: tube, spacer / standoff, flange.
//! - [`fasteners`]: washer (ISO 7089) and hex nut (ISO 4032), and their tables.
//! - [`bracket`]: L-bracket with holes in its legs and optional gussets (shelf bracket).
//! - [`enclosure`]: open-top enclosure / project box with walls, floor and optional lid.
//! - [`gear`]: spur gear with an involute profile, from a module or a diametral pitch.
//! - [`turned`]: stepped shaft, pulley / wheel with a hub, hex bolt blank, hex standoff.

mod bracket;
mod enclosure;
mod fasteners;
mod gear;
mod geometry;
mod plates;
mod rings;
mod solids;
mod turned;

use std::collections::BTreeMap;

pub use geometry::{
    Axis, Body, Cut, EdgeFinish, Edges, Gussets, Head, MAX_SIZE_MM, MIN_WALL_MM, Part, Section,
    Segment,
};

use super::parse::{Feature, Qualifier, Quantity, Reading, Scope};
use super::{PlanError, fmt};
use shared::error_code::ErrorCode;

// The entries as users see them live in `shared`, so the gateway can offer them too (the page
// at `/` shows the examples as suggestions).
pub use shared::catalogue::{CATALOGUE, Entry};

/// The templates' version, for the result cache's keys: their own sources, whole. Any edit
/// to a template or to a formula it shares gives every plan a new key, so a cached file is
/// never one an older template made; nobody has to remember to bump a number.
pub const TEMPLATE_SOURCES: [&str; 10] = [
    include_str!("mod.rs"),
    include_str!("geometry.rs"),
    include_str!("solids.rs"),
    include_str!("plates.rs"),
    include_str!("rings.rs"),
    include_str!("fasteners.rs"),
    include_str!("bracket.rs"),
    include_str!("enclosure.rs"),
    include_str!("gear.rs"),
    include_str!("turned.rs"),
];

/// A catalogue entry's answer: the part and what the planner understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    pub entry: &'static str,
    pub summary: String,
    /// Every parameter the part was built from, in mm (counts are plain numbers).
    pub parameters: BTreeMap<String, f64>,
    pub part: Part,
    /// What the prompt said that is not geometry (material, purpose, process).
    pub notes: Vec<String>,
}

impl Design {
    fn new(entry: &'static str, summary: String, parameters: Params, part: Part) -> Self {
        Self {
            entry,
            summary,
            parameters: parameters.0,
            part,
            notes: Vec::new(),
        }
    }
}

/// Parameters as they are understood, built up by an entry.
#[derive(Debug, Clone, Default)]
struct Params(BTreeMap<String, f64>);

impl Params {
    fn set(&mut self, name: &str, value: f64) -> &mut Self {
        self.0.insert(name.to_owned(), value);
        self
    }
}

/// Nouns that may come with an entry's own noun without naming another part
/// ("a pipe flange", "a cube-shaped block", "a spacer tube").
fn companions(noun: &str) -> &'static [&'static str] {
    match noun {
        "bracket" => &["box"],
        "shelf_bracket" => &["bracket", "box"],
        "enclosure" => &["box"],
        "hex_standoff" => &["spacer"],
        "stepped_shaft" => &["cylinder"],
        "pulley" => &["cylinder"],
        "gear" => &["cylinder"],
        "flange" => &["tube", "cylinder", "ring"],
        "washer" => &["ring", "cylinder"],
        "spacer" => &["tube", "cylinder"],
        "tube" => &["cylinder"],
        "torus" => &["ring"],
        "frustum" => &["cone"],
        "cube" => &["box"],
        _ => &[],
    }
}

/// From the most specific noun to the most generic: the first one present names the part.
const NOUN_PRIORITY: &[&str] = &[
    "shelf_bracket",
    "bracket",
    "enclosure",
    "gear",
    "hex_standoff",
    "bolt",
    "flange",
    "nut",
    "washer",
    "spacer",
    "pulley",
    "stepped_shaft",
    "tube",
    "torus",
    "ring",
    "frustum",
    "cone",
    "sphere",
    "cylinder",
    "cube",
    "box",
];

/// Chooses the entry a reading names and builds its part, or says why it cannot. A refusal
/// ends with one or two examples close to what was asked.
pub fn design(reading: &mut Reading) -> Result<Design, PlanError> {
    design_entry(reading).map_err(|mut error| {
        let unhonoured = reading.unhonoured();
        if !unhonoured.is_empty() && !error.message.contains("cannot honour") {
            error.message = format!(
                "{} It also did not use {}.",
                error.message,
                quoted(&unhonoured)
            );
        }
        if matches!(
            error.code,
            ErrorCode::UnsupportedPrompt | ErrorCode::AmbiguousPrompt
        ) {
            error.message = format!("{} {}", error.message, close_examples(&reading.nouns));
        }
        error
    })
}

fn design_entry(reading: &mut Reading) -> Result<Design, PlanError> {
    if !reading.unsupported.is_empty() {
        return Err(unsupported(&format!(
            "it asks for {}, which the offline planner cannot make",
            quoted(&reading.unsupported)
        )));
    }
    // "hex" makes a standoff or spacer hexagonal; nuts and bolts are hexagonal anyway.
    if reading.nouns.contains(&"hex_shape") && reading.nouns.contains(&"spacer") {
        reading.nouns.push("hex_standoff");
    }
    let Some(noun) = NOUN_PRIORITY
        .iter()
        .copied()
        .find(|n| reading.nouns.contains(n))
    else {
        return Err(unsupported("it names no part the offline planner knows"));
    };
    if reading.nouns.contains(&"hex_shape") && !["nut", "bolt", "hex_standoff"].contains(&noun) {
        return Err(unsupported(&format!(
            "it asks for a 'hex' {}, which the offline planner cannot make",
            noun.replace('_', " ")
        )));
    }
    let others: Vec<String> = reading
        .nouns
        .iter()
        .filter(|n| **n != noun && **n != "hex_shape" && !companions(noun).contains(n))
        .map(|n| (*n).to_owned())
        .collect();
    if !others.is_empty() {
        return Err(unsupported(&format!(
            "it names more than one part ({} and {}); the offline planner makes one part at a time",
            noun,
            others.join(", ")
        )));
    }
    let mut design = match noun {
        "shelf_bracket" => bracket::l_bracket(reading, true)?,
        "bracket" => bracket::l_bracket(reading, false)?,
        "enclosure" => enclosure::enclosure(reading)?,
        "gear" => gear::spur_gear(reading)?,
        "hex_standoff" => turned::hex_standoff(reading)?,
        "bolt" => turned::hex_bolt(reading)?,
        "pulley" => turned::pulley(reading)?,
        "stepped_shaft" => turned::stepped_shaft(reading)?,
        "flange" => rings::flange(reading)?,
        "nut" => fasteners::hex_nut(reading)?,
        "washer" => fasteners::washer(reading)?,
        "spacer" => rings::spacer(reading)?,
        "tube" => rings::tube(reading)?,
        "torus" => solids::torus(reading)?,
        "ring" => rings::flat_ring_or_torus(reading)?,
        "frustum" => solids::cone(reading, true)?,
        "cone" => solids::cone(reading, false)?,
        "sphere" => solids::sphere(reading)?,
        "cylinder" => rings::cylinder_or_tube(reading)?,
        "cube" => plates::box_family(reading, true)?,
        _ => plates::box_family(reading, false)?,
    };
    let unused = unused_features(reading, design.entry);
    if !unused.is_empty() {
        return Err(unsupported(&format!(
            "the {} it would make has no {}",
            design.entry.replace('_', " "),
            unused.join(" or ")
        )));
    }
    design.notes = reading.notes.clone();
    let unhonoured = reading.unhonoured();
    if !unhonoured.is_empty() {
        return Err(unsupported(&format!(
            "the {} it would make cannot honour {}",
            design.entry.replace('_', " "),
            quoted(&unhonoured)
        )));
    }
    let leftovers = reading.leftovers();
    if !leftovers.is_empty() {
        return Err(ambiguous(
            reading,
            &format!(
                "could not tell what {} is for in a {}",
                leftovers.join(", "),
                design.entry.replace('_', " ")
            ),
        ));
    }
    design.part.check().map_err(|why| PlanError {
        code: ErrorCode::InvalidDimensions,
        message: format!(
            "{} cannot be made: {why}. Understood: {}.",
            design.summary,
            describe_parameters(&design.parameters)
        ),
    })?;
    Ok(design)
}

/// The features only some entries make, named in the prompt but not made by `entry`.
fn unused_features(reading: &Reading, entry: &str) -> Vec<&'static str> {
    let mut unused = Vec::new();
    for (feature, words, makers) in [
        (Feature::Slot, "'slot'", &["plate_with_slots"][..]),
        (Feature::Hub, "'hub'", &["pulley"][..]),
        (Feature::Gusset, "'gusset'", &["l_bracket"][..]),
        (Feature::BoltHead, "'head'", &["hex_bolt"][..]),
    ] {
        if reading.has_feature(feature) && !makers.contains(&entry) {
            unused.push(words);
        }
    }
    if reading.lid && entry != "enclosure" {
        unused.push("'lid'");
    }
    unused
}

/// "length 100 mm, hole count 4, ..." for messages and plan steps.
pub fn describe_parameters(parameters: &BTreeMap<String, f64>) -> String {
    parameters
        .iter()
        .map(|(name, value)| {
            let unit = if name.ends_with("count")
                || name.ends_with("columns")
                || name.ends_with("rows")
                || name == "teeth"
                || name == "diametral_pitch"
                || name == "lid"
            {
                ""
            } else if name.ends_with("angle") {
                " degrees"
            } else {
                " mm"
            };
            format!("{} {}{unit}", name.replace('_', " "), fmt(*value))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The list of known parts, each with an example.
pub fn known_parts() -> String {
    CATALOGUE
        .iter()
        .map(|e| format!("{} (\"{}\")", e.what, e.example))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One or two examples close to a prompt: those of the entries its nouns name, else two
/// common ones; never the whole catalogue.
fn close_examples(nouns: &[&str]) -> String {
    let mut examples: Vec<&str> = Vec::new();
    for noun in nouns {
        for entry in entries_for_noun(noun) {
            if let Some(e) = CATALOGUE.iter().find(|e| e.name == *entry)
                && !examples.contains(&e.example)
            {
                examples.push(e.example);
            }
        }
    }
    if examples.is_empty() {
        examples = vec![CATALOGUE[0].example, CATALOGUE[6].example];
    }
    examples.truncate(2);
    let quoted: Vec<String> = examples.iter().map(|e| format!("\"{e}\"")).collect();
    format!("For example: {}.", quoted.join(" or "))
}

/// The entries a part noun can lead to, most likely first.
fn entries_for_noun(noun: &str) -> &'static [&'static str] {
    match noun {
        "bracket" | "shelf_bracket" => &["l_bracket"],
        "enclosure" => &["enclosure"],
        "gear" => &["spur_gear"],
        "hex_standoff" => &["hex_standoff", "spacer"],
        "bolt" => &["hex_bolt"],
        "pulley" => &["pulley"],
        "stepped_shaft" => &["stepped_shaft"],
        "flange" => &["flange"],
        "nut" => &["hex_nut"],
        "washer" => &["washer"],
        "spacer" => &["spacer"],
        "tube" => &["tube"],
        "torus" | "ring" => &["torus", "washer"],
        "frustum" | "cone" => &["cone"],
        "sphere" => &["sphere"],
        "cylinder" => &["cylinder", "tube"],
        _ => &["box", "plate_with_holes"],
    }
}

fn unsupported(reason: &str) -> PlanError {
    PlanError {
        code: ErrorCode::UnsupportedPrompt,
        message: format!("The offline planner could not plan this prompt: {reason}."),
    }
}

fn ambiguous(reading: &Reading, needs: &str) -> PlanError {
    PlanError {
        code: ErrorCode::AmbiguousPrompt,
        message: format!(
            "The offline planner read {}, but {needs}.",
            reading.understood()
        ),
    }
}

/// The first of several ways to give a size: `Ok(None)` when none was given.
fn take_first(reading: &mut Reading, quantities: &[Quantity]) -> Result<Option<f64>, PlanError> {
    let mut found: Option<(Quantity, f64)> = None;
    for &q in quantities {
        if let Some(v) = reading.take(q)? {
            match found {
                Some((first, previous)) if (previous - v).abs() > 1e-9 * previous.max(1.0) => {
                    return Err(ambiguous(
                        reading,
                        &format!(
                            "the {} ({} mm) and the {} ({} mm) both seem to give one size",
                            first.name(),
                            fmt(previous),
                            q.name(),
                            fmt(v)
                        ),
                    ));
                }
                Some(_) => {}
                None => found = Some((q, v)),
            }
        }
    }
    Ok(found.map(|(_, v)| v))
}

/// A size the entry cannot do without.
fn required(reading: &Reading, value: Option<f64>, what: &str) -> Result<f64, PlanError> {
    value.ok_or_else(|| ambiguous(reading, what))
}

/// Rounded or chamfered edges asked for ("with 2 mm fillets on the top edges"); sharp when
/// none. `round`: the part is a cylinder, whose edges are its rims.
fn edge_finish(reading: &mut Reading, round: bool) -> Result<EdgeFinish, PlanError> {
    let fillet = reading.take(Quantity::Fillet)?;
    let chamfer = reading.take(Quantity::Chamfer)?;
    let finish = match (fillet, chamfer) {
        (Some(_), Some(_)) => {
            return Err(ambiguous(
                reading,
                "the edges can be filleted or chamfered, not both",
            ));
        }
        (Some(r), None) => EdgeFinish::Fillet(r, edge_selection(reading, round)),
        (None, Some(c)) => EdgeFinish::Chamfer(c, edge_selection(reading, round)),
        (None, None) if reading.has_feature(Feature::Fillet) => {
            return Err(ambiguous(
                reading,
                "rounded edges need a radius, e.g. \"with 2 mm fillets\"",
            ));
        }
        (None, None) if reading.has_feature(Feature::Chamfer) => {
            return Err(ambiguous(
                reading,
                "chamfered edges need a size, e.g. \"with 1 mm chamfers\"",
            ));
        }
        (None, None) => EdgeFinish::Sharp,
    };
    Ok(finish)
}

/// Which edges the qualifiers about edges choose; the ones it understands are honoured,
/// anything else is left for the refusal ("vertical" on a cylinder, "top" and "vertical").
fn edge_selection(reading: &mut Reading, round: bool) -> Edges {
    use Qualifier as Q;
    // "chamfers along the top edges": "along" is only the preposition of a finish.
    let along_only = reading
        .qualifiers
        .iter()
        .filter(|q| q.scope == Scope::Edges && q.qualifier == Q::Direction)
        .all(|q| q.words == "along");
    let open = reading.open_qualifiers(Scope::Edges);
    let selection: Vec<Qualifier> = open
        .iter()
        .copied()
        .filter(|q| *q != Q::Only && !(*q == Q::Direction && along_only))
        .collect();
    let has = |q: Qualifier| selection.contains(&q);
    let only_these = |qs: &[Qualifier]| selection.iter().all(|q| qs.contains(q));
    let chosen = if selection.is_empty() {
        Some(Edges::All)
    } else if round && only_these(&[Q::Top, Q::Bottom, Q::BothEnds]) {
        Some(if has(Q::BothEnds) || (has(Q::Top) && has(Q::Bottom)) {
            Edges::All
        } else if has(Q::Top) {
            Edges::Top
        } else {
            Edges::Bottom
        })
    } else if !round && selection == [Q::Vertical] {
        Some(Edges::Vertical)
    } else if !round && only_these(&[Q::Top, Q::Bottom, Q::Horizontal]) {
        Some(if has(Q::Horizontal) || (has(Q::Top) && has(Q::Bottom)) {
            Edges::TopAndBottom
        } else if has(Q::Top) {
            Edges::Top
        } else {
            Edges::Bottom
        })
    } else {
        None
    };
    match chosen {
        Some(edges) => {
            let mut honoured = selection;
            if edges != Edges::All || (open.contains(&Q::Only) && !honoured.is_empty()) {
                honoured.push(Q::Only);
            }
            if along_only {
                honoured.push(Q::Direction);
            }
            reading.honour(Scope::Edges, &honoured);
            edges
        }
        None => Edges::All,
    }
}

/// Holes drilled straight down through the top face are what the catalogue makes: "in the
/// top face", "drilled vertically" are honoured; any other face or direction is not.
fn vertical_holes(reading: &mut Reading, feature: Feature) {
    use Qualifier as Q;
    let scope = Scope::Feature(feature);
    let open = reading.open_qualifiers(scope);
    let plain = open
        .iter()
        .all(|q| matches!(q, Q::Top | Q::Vertical | Q::Face));
    if plain && (!open.contains(&Q::Face) || open.contains(&Q::Top)) {
        reading.honour(scope, &[Q::Top, Q::Vertical, Q::Face]);
    }
}

/// Parts whose edges the catalogue does not finish must not silently drop a fillet.
fn no_edge_finish(reading: &Reading, entry: &str) -> Result<(), PlanError> {
    if reading.has_feature(Feature::Fillet) || reading.has_feature(Feature::Chamfer) {
        return Err(unsupported(&format!(
            "it asks for rounded or chamfered edges on a {entry}; the offline planner finishes \
             the edges of boxes, plates, blocks and cylinders only"
        )));
    }
    Ok(())
}

/// Parts without holes must not silently drop one.
fn no_holes(reading: &Reading, entry: &str) -> Result<(), PlanError> {
    if [Feature::Hole, Feature::Bore, Feature::Pocket]
        .iter()
        .any(|f| reading.has_feature(*f))
    {
        return Err(unsupported(&format!(
            "it asks for a hole or pocket in a {entry}, which the offline planner cannot make"
        )));
    }
    Ok(())
}

/// A hole diameter given directly, as a radius, or as a metric clearance ("M6 holes").
fn hole_diameter(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    let given = reading.take_diameter(Quantity::HoleDiameter, Quantity::HoleRadius)?;
    let metric = reading.take_metric(Some(Feature::Hole))?;
    match (given, metric) {
        (Some(_), Some(m)) => Err(ambiguous(
            reading,
            &format!(
                "the holes have both a diameter and a metric size (M{})",
                fmt(m)
            ),
        )),
        (Some(d), None) => Ok(Some(d)),
        (None, Some(m)) => fasteners::clearance_hole(m).map(Some).ok_or_else(|| {
            unsupported(&format!(
                "it asks for M{} clearance holes; the known sizes are {}",
                fmt(m),
                fasteners::clearance_sizes()
            ))
        }),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_named_once() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }

    /// Every qualifier word, in every kind of phrase: either the plan honours it (and the
    /// part differs from the one without the word, unless the word restates the default) or
    /// the prompt is refused naming it. Never planned as if the word were not there.
    #[test]
    fn every_qualifier_word_is_honoured_or_refused_never_ignored() {
        use crate::offline_planner::OfflinePlanner;
        // Words that name what the part is anyway: holes are drilled from the top,
        // vertically; a finish at both ends of a rod is on both rims.
        let restating = |template: &str, word: &str| {
            (template.contains("hole")
                && [
                    "top",
                    "upper",
                    "vertical",
                    "vertically",
                    "upright",
                    "top to bottom",
                ]
                .contains(&word))
                || ((template.contains("edges") || template.contains("rim")) && word == "along")
                || (template.contains("rim")
                    && ["both ends", "each end", "either end", "ends"].contains(&word))
        };
        let templates = [
            "a box 100x50x30 mm with 3 mm fillets on the {} edges",
            "a box 100x50x30 mm with 3 mm fillets, {} edges",
            "a cylinder 40 mm in diameter, 30 mm tall, with a 2 mm chamfer on the {} rim",
            "a plate 100x60x5 mm with a 6 mm hole {}",
            "a plate 100x60x5 mm with four 6 mm holes at the corners, {}",
            "a {} block 60x40x30 mm",
            "a sphere 40 mm in diameter, {}",
        ];
        let mut honoured = 0;
        let mut refused = 0;
        for word in crate::offline_planner::parse::qualifier_words() {
            for template in templates {
                let prompt = template.replace("{}", word);
                let plain = OfflinePlanner
                    .plan(&template.replace(" {}", "").replace(", {}", ""))
                    .expect("the template without the word plans");
                match OfflinePlanner.plan(&prompt) {
                    Ok(plan) => {
                        assert!(
                            plan.part != plain.part || restating(template, word),
                            "'{word}' was ignored in: {prompt}"
                        );
                        honoured += 1;
                    }
                    // Refused only after every qualifier was honoured: the part itself is
                    // impossible (a hole front to back through a thin plate).
                    Err(error) if error.code == ErrorCode::InvalidDimensions => honoured += 1,
                    Err(error) => {
                        assert!(
                            error.message.contains(&format!("'{word}'"))
                                || error.message.contains(&format!("{word}'"))
                                || error.message.contains(&format!("'{word}")),
                            "{prompt}: refused without naming '{word}': {}",
                            error.message
                        );
                        refused += 1;
                    }
                }
            }
        }
        assert!(
            honoured >= 10 && refused >= 100,
            "{honoured} honoured, {refused} refused"
        );
    }

    /// The qualifier words added with the new parts, each in a prompt that honours it and
    /// one that must be refused naming it.
    #[test]
    fn new_qualifier_words_are_honoured_where_made_and_refused_elsewhere() {
        use crate::offline_planner::OfflinePlanner;
        let cases = [
            (
                "countersunk",
                "a plate 100x60x6 mm with four countersunk M5 holes at the corners",
                "a flange 100 mm OD, 40 mm bore, 10 mm thick with 4 countersunk M8 holes",
            ),
            (
                "counterbored",
                "a plate 100x60x10 mm with four counterbored M5 holes at the corners",
                "an L-bracket 60x40x5, 30 wide, with a counterbored M4 hole in each leg",
            ),
            (
                "csk",
                "a plate 100x60x6 mm with 4 M5 csk holes",
                "an M8 csk washer",
            ),
            (
                "front to back",
                "a block 60x40x30 with an 8 mm hole drilled front to back",
                "a cylinder 40 mm in diameter, 30 mm tall with a 6 mm hole front to back",
            ),
            (
                "lengthwise",
                "a bar 200 x 30 x 20 with a 6 mm hole lengthwise",
                "a flange 120 mm OD, 60 mm bore, 12 mm thick with 6 holes of 10 mm lengthwise",
            ),
            (
                "crosswise",
                "a plate 200x100x10 with two 30 x 8 mm slots running crosswise",
                "a sphere 40 mm in diameter, crosswise",
            ),
            (
                "cross",
                "a cylinder 40 mm diameter 60 mm tall with a 6 mm cross hole",
                "a plate 100x60x5 mm with a 6 mm cross hole",
            ),
            (
                "crosswise",
                "a dowel 10 mm diameter 50 mm long with a 3 mm hole crosswise",
                "a cone with base diameter 40 mm, 30 mm high, with a 3 mm hole crosswise",
            ),
            (
                "transverse",
                "a 25 mm rod 80 mm long with a 5 mm transverse hole 20 mm from the top",
                "a tube 30 mm OD, 24 mm ID, 100 mm long with a 5 mm transverse hole",
            ),
            (
                "cross drilled",
                "a shaft 20 mm in diameter, 100 mm long, with an 8 mm cross drilled hole",
                "a sphere 40 mm in diameter with a 6 mm cross drilled hole",
            ),
            (
                "top to bottom",
                "a block 60x40x30 with a 10 mm hole top to bottom",
                "a torus with major radius 30 mm and minor radius 5 mm, top to bottom",
            ),
        ];
        for (word, honoured, refused) in cases {
            let plan = OfflinePlanner
                .plan(honoured)
                .unwrap_or_else(|e| panic!("{honoured}: {e}"));
            assert!(
                plan.plan.steps.len() >= 3,
                "{honoured}: {:?}",
                plan.plan.steps
            );
            let error = match OfflinePlanner.plan(refused) {
                Ok(plan) => panic!("{refused}: planned {}", plan.plan.summary),
                Err(error) => error,
            };
            assert!(
                error.message.contains(&format!("'{word}'")),
                "{refused}: {}",
                error.message
            );
        }
        // Honoured means made: the countersink and the direction are in the part.
        let plan = OfflinePlanner
            .plan("a plate 100x60x6 mm with four countersunk M5 holes at the corners")
            .unwrap();
        assert!(
            plan.part
                .cuts
                .iter()
                .all(|c| matches!(c, Cut::SunkHole { .. }))
        );
        let plan = OfflinePlanner
            .plan("a block 60x40x30 with an 8 mm hole drilled front to back")
            .unwrap();
        assert!(matches!(plan.part.cuts[0], Cut::Hole { axis: Axis::Y, .. }));
        // A cross hole runs across the cylinder's axis at the height asked for.
        let plan = OfflinePlanner
            .plan("a 25 mm rod 80 mm long with a 5 mm transverse hole 20 mm from the top")
            .unwrap();
        assert_eq!(
            plan.part.cuts,
            [Cut::Hole {
                axis: Axis::X,
                centre: [0.0, 60.0],
                radius: 2.5,
                from: -12.5,
                to: 12.5,
                through: true,
            }]
        );
        // Another direction beside the cross word is still refused, naming it.
        let error = OfflinePlanner
            .plan("a cylinder 40 mm in diameter, 60 mm tall with a 6 mm cross hole front to back")
            .unwrap_err();
        assert!(
            error.message.contains("'front to back'"),
            "{}",
            error.message
        );
        // Two cross holes are not made as one.
        let error = OfflinePlanner
            .plan("a cylinder 40 mm in diameter, 60 mm tall with two 6 mm cross holes")
            .unwrap_err();
        assert_eq!(
            error.code,
            ErrorCode::UnsupportedPrompt,
            "{}",
            error.message
        );
    }

    #[test]
    fn parameters_read_as_words_and_millimetres() {
        let mut params = Params::default();
        params.set("hole_count", 4.0).set("length", 100.0);
        assert_eq!(
            describe_parameters(&params.0),
            "hole count 4, length 100 mm"
        );
    }
}
