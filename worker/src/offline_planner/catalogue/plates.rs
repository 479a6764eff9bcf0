//! Box-shaped parts with cuts: a plate or block with through-holes (centred, at the corners,
//! in a row or in a grid) and a block with a centred pocket or blind hole. A plain box goes
//! to [`super::solids`].

use super::fasteners::{counterbore_for, countersink_for};
use super::geometry::{Axis, Body, Cut, EdgeFinish, Head, Part};
use super::solids::{cuboid_size, cuboid_summary, finish_params, plain_box};
use super::{
    Design, Params, ambiguous, edge_finish, hole_diameter, required, take_first, vertical_holes,
};
use crate::offline_planner::parse::{
    Arrangement, Feature, Qualifier, Quantity as Q, Reading, Scope,
};
use crate::offline_planner::{PlanError, fmt};

/// Default distance from a plate's edges to the centres of corner holes, in hole diameters:
/// the usual minimum edge distance for a bolted plate.
const DEFAULT_MARGIN_PER_DIAMETER: f64 = 1.5;
/// More holes than this is a perforated sheet, not a catalogue part.
const MAX_HOLES: f64 = 400.0;

/// A box, a plate with holes or a block with a pocket, by the features the prompt names.
pub(super) fn box_family(reading: &mut Reading, cube: bool) -> Result<Design, PlanError> {
    let blind = reading.blind || reading.has_value(Q::Depth);
    // Several blind holes are a plate with holes; one centred is a block with a pocket.
    let several = reading.plural_holes
        || reading
            .arrangements
            .iter()
            .any(|a| *a != Arrangement::Centred);
    if reading.has_feature(Feature::Slot) {
        plate_with_slots(reading, cube)
    } else if reading.has_feature(Feature::Pocket)
        || (reading.has_feature(Feature::Hole) && blind && !several)
    {
        block_with_pocket(reading, cube)
    } else if reading.has_feature(Feature::Hole) || reading.has_feature(Feature::Bore) {
        plate_with_holes(reading, cube)
    } else {
        plain_box(reading, cube)
    }
}

fn block_noun(size: [f64; 3]) -> &'static str {
    if size[2] < size[0].min(size[1]) / 2.0 {
        "Plate"
    } else {
        "Block"
    }
}

/// Where the holes of a plate go.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Centred,
    Corners,
    Row(f64),
    Grid(f64, f64),
    /// Four holes on a centred rectangle, centre distances along the length and the width.
    Rectangle(f64, f64),
}

fn hole_count(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    let counts = reading.take_counts();
    match counts.as_slice() {
        [] => Ok(None),
        [first, rest @ ..] if rest.iter().all(|c| c == first) => Ok(Some(*first)),
        _ => Err(ambiguous(
            reading,
            "the hole counts disagree; it needs one count",
        )),
    }
}

fn layout(reading: &mut Reading) -> Result<Layout, PlanError> {
    if !reading.has_arrangement(Arrangement::Grid)
        && let (Some(a), Some(b)) = (
            reading.take(Q::PatternLength)?,
            reading.take(Q::PatternWidth)?,
        )
    {
        return match hole_count(reading)? {
            None | Some(4.0) => Ok(Layout::Rectangle(a, b)),
            Some(n) => Err(ambiguous(
                reading,
                &format!("{} holes do not make a rectangle of four", fmt(n)),
            )),
        };
    }
    // "on an 80 mm square": a square of four holes.
    if !reading.has_arrangement(Arrangement::Grid)
        && let Some(side) = reading.take(Q::Side)?
    {
        return match hole_count(reading)? {
            None | Some(4.0) => Ok(Layout::Rectangle(side, side)),
            Some(n) => Err(ambiguous(
                reading,
                &format!("{} holes do not make a square of four", fmt(n)),
            )),
        };
    }
    // "two rows of three holes": a grid, the count being per row.
    if let Some(rows) = reading.take_rows() {
        let per_row = hole_count(reading)?;
        let per_row = required(
            reading,
            per_row,
            "rows of holes need the holes in each, e.g. \"two rows of three 5 mm holes\"",
        )?;
        return Ok(Layout::Grid(per_row, rows));
    }
    if reading.has_arrangement(Arrangement::Rectangle) {
        return Err(ambiguous(
            reading,
            "holes on a rectangle need its sides, e.g. \"four holes on an 80 x 40 mm rectangle\"",
        ));
    }
    let grid = reading.take_grid();
    if grid.is_some() || reading.has_arrangement(Arrangement::Grid) {
        let (columns, rows) = grid.ok_or_else(|| {
            ambiguous(
                reading,
                "a grid of holes needs its columns and rows, e.g. \"a 3 x 2 grid of 5 mm holes\"",
            )
        })?;
        if let Some(count) = hole_count(reading)?
            && count != columns * rows
        {
            return Err(ambiguous(
                reading,
                &format!(
                    "{} holes do not make a {} x {} grid",
                    fmt(count),
                    fmt(columns),
                    fmt(rows)
                ),
            ));
        }
        return Ok(Layout::Grid(columns, rows));
    }
    let each_corner = reading.has_arrangement(Arrangement::EachCorner);
    if each_corner || reading.has_arrangement(Arrangement::Corners) {
        // "four holes at the corners", "a hole in each corner", "four holes, one in each corner".
        let counts = reading.take_counts();
        let fits = counts
            .iter()
            .all(|&c| c == 4.0 || (each_corner && c == 1.0));
        if !fits {
            return Err(ambiguous(
                reading,
                "holes at the corners of a plate are four, one per corner",
            ));
        }
        return Ok(Layout::Corners);
    }
    let count = hole_count(reading)?;
    if reading.has_arrangement(Arrangement::Row) {
        let count = required(
            reading,
            count,
            "a row of holes needs a count, e.g. \"3 holes in a row\"",
        )?;
        return Ok(Layout::Row(count));
    }
    if reading.has_arrangement(Arrangement::Centred) {
        return match count {
            None | Some(1.0) => Ok(Layout::Centred),
            Some(n) => Err(ambiguous(
                reading,
                &format!("{} holes cannot all be in the centre", fmt(n)),
            )),
        };
    }
    match count {
        Some(1.0) => Ok(Layout::Centred),
        // Four holes with no arrangement: a mounting plate's corners.
        Some(4.0) => Ok(Layout::Corners),
        Some(n) => Ok(Layout::Row(n)),
        None if reading.plural_holes => Err(ambiguous(
            reading,
            "it needs the number of holes, e.g. \"four 6 mm holes\"",
        )),
        None => Ok(Layout::Centred),
    }
}

/// Positions spread over `[0, span]`: centred with a pitch, from a margin to the far margin,
/// or in the middle of equal cells.
fn spread(count: f64, span: f64, pitch: Option<f64>, margin: Option<f64>) -> Vec<f64> {
    let n = count as usize;
    (0..n)
        .map(|i| {
            let i = i as f64;
            match (pitch, margin) {
                (Some(p), _) => span / 2.0 + (i - (count - 1.0) / 2.0) * p,
                (None, Some(m)) if n > 1 => m + i * (span - 2.0 * m) / (count - 1.0),
                _ => span * (i + 0.5) / count,
            }
        })
        .collect()
}

/// What kind of hole: through, blind to a depth, or with a counterbored or countersunk head.
#[derive(Debug, Clone, Copy, PartialEq)]
enum HoleKind {
    Through,
    Blind(f64),
    Sunk(Head),
}

/// The head asked for by "countersunk" / "counterbored", sized from what the prompt gives or
/// from the M size of the holes (ISO 10642 countersinks, DIN 974 counterbores).
fn hole_head(reading: &mut Reading, hole: f64) -> Result<Option<Head>, PlanError> {
    let countersunk = reading.has_qualifier(Qualifier::Countersunk);
    let counterbored = reading.has_qualifier(Qualifier::Counterbored);
    if !(countersunk || counterbored) {
        return Ok(None);
    }
    if countersunk && counterbored {
        return Err(ambiguous(
            reading,
            "the holes can be countersunk or counterbored, not both",
        ));
    }
    let diameter = reading.take_diameter(Q::HeadDiameter, Q::HeadDiameter)?;
    let depth = reading.take(Q::HeadDepth)?;
    let metric = reading.metric_of(Some(Feature::Hole));
    let head = if countersunk {
        let diameter = match (diameter, metric) {
            (Some(d), _) => d,
            (None, Some(m)) => countersink_for(m).ok_or_else(|| {
                ambiguous(reading, &format!("it knows no countersink for M{}", fmt(m)))
            })?,
            (None, None) => {
                return Err(ambiguous(
                    reading,
                    "a countersink needs its diameter or the screw size, e.g. \"countersunk \
                     to 12 mm\" or \"countersunk M5 holes\"",
                ));
            }
        };
        if depth.is_some() {
            return Err(ambiguous(
                reading,
                "a 90° countersink's depth follows from its diameter; give the diameter only",
            ));
        }
        Head::Countersink {
            radius: diameter / 2.0,
        }
    } else {
        let standard = metric.and_then(counterbore_for);
        match (
            diameter.or(standard.map(|s| s.0)),
            depth.or(standard.map(|s| s.1)),
        ) {
            (Some(d), Some(depth)) => Head::Counterbore {
                radius: d / 2.0,
                depth,
            },
            _ => {
                return Err(ambiguous(
                    reading,
                    "a counterbore needs its diameter and depth or the screw size, e.g. \
                     \"counterbored 11 mm, 6 mm deep\" or \"counterbored M6 holes\"",
                ));
            }
        }
    };
    if head.radius() <= hole / 2.0 {
        return Err(ambiguous(
            reading,
            &format!(
                "the {} mm head must be wider than the {} mm hole",
                fmt(2.0 * head.radius()),
                fmt(hole)
            ),
        ));
    }
    reading.honour_anywhere(&[Qualifier::Countersunk, Qualifier::Counterbored]);
    Ok(Some(head))
}

/// Which way the holes run: straight down (the default), along the length ("along its
/// length", "lengthwise", "through the 80 mm length", "through the left face") or from
/// front to back ("front to back", "through the 40 mm width", "through the front face").
/// Understood directions are honoured; anything else is left for the refusal.
fn hole_axis(reading: &mut Reading, size: [f64; 3]) -> Result<(Axis, String), PlanError> {
    let [length, width, height] = size;
    // "a hole along the length": one hole, so not a row along it but its direction.
    let mut axes = Vec::new();
    let mut words: Vec<String> = Vec::new();
    if !reading.plural_holes && !reading.counts_given() && reading.has_arrangement(Arrangement::Row)
    {
        reading.arrangements.retain(|a| *a != Arrangement::Row);
        axes.push(Axis::X);
        words.push("'along the length'".to_owned());
    }
    for (q, v) in reading.take_along() {
        let actual = match q {
            Q::Length => length,
            Q::Width => width,
            _ => height,
        };
        if (actual - v).abs() > 1e-9 * actual.max(1.0) {
            return Err(ambiguous(
                reading,
                &format!(
                    "the part's {} is {} mm, not {} mm",
                    q.name(),
                    fmt(actual),
                    fmt(v)
                ),
            ));
        }
    }
    let in_scope = |scope: Scope| {
        matches!(
            scope,
            Scope::Part | Scope::Feature(Feature::Hole) | Scope::Feature(Feature::Bore)
        )
    };
    for q in reading
        .qualifiers
        .iter()
        .filter(|q| !q.honoured && in_scope(q.scope))
    {
        let axis = match (q.qualifier, q.along, q.words.as_str()) {
            (Qualifier::Direction, Some(Q::Length), _) => Some(Axis::X),
            (Qualifier::Direction, Some(Q::Width), _) => Some(Axis::Y),
            (Qualifier::Direction, Some(_), _) => Some(Axis::Z),
            (Qualifier::Face, _, "front" | "back" | "rear") => Some(Axis::Y),
            (Qualifier::Face, _, "left" | "right") => Some(Axis::X),
            _ => None,
        };
        if axis.is_some() {
            words.push(format!("'{}'", q.words));
        }
        axes.extend(axis);
    }
    let Some(&axis) = axes.first() else {
        return Ok((Axis::Z, String::new()));
    };
    if axes.iter().any(|a| *a != axis) {
        return Ok((Axis::Z, String::new()));
    }
    let kinds: &[Qualifier] = if axis == Axis::Z {
        &[Qualifier::Direction, Qualifier::Vertical]
    } else {
        &[Qualifier::Direction, Qualifier::Face]
    };
    for scope in [
        Scope::Part,
        Scope::Feature(Feature::Hole),
        Scope::Feature(Feature::Bore),
    ] {
        reading.honour(scope, kinds);
    }
    Ok((axis, words.join(", ")))
}

/// The centres of the holes in the plane across `axis`, and where they are, in words.
fn hole_centres(
    reading: &mut Reading,
    layout: Layout,
    (axis, axis_words): (Axis, &str),
    size: [f64; 3],
    diameter: f64,
    params: &mut Params,
) -> Result<(Vec<[f64; 2]>, String), PlanError> {
    let [length, width, height] = size;
    if axis != Axis::Z {
        // Across a horizontal axis: centred at mid height, or a row along the other side.
        let (across, along_name) = if axis == Axis::X {
            (width, "width")
        } else {
            (length, "length")
        };
        return match layout {
            Layout::Centred => Ok((vec![[across / 2.0, height / 2.0]], "centred".to_owned())),
            Layout::Row(n) => {
                let pitch = reading.take(Q::Pitch)?;
                if let Some(p) = pitch {
                    params.set("hole_spacing", p);
                }
                Ok((
                    spread(n, across, pitch, None)
                        .into_iter()
                        .map(|c| [c, height / 2.0])
                        .collect(),
                    format!("in a row across the {along_name}, at mid height"),
                ))
            }
            _ => Err(ambiguous(
                reading,
                &format!(
                    "holes running {axis_words} go one in the middle or in a row, not at the \
                     corners or in a grid"
                ),
            )),
        };
    }
    Ok(match layout {
        Layout::Centred => (
            vec![[length / 2.0, width / 2.0]],
            "in the centre".to_owned(),
        ),
        Layout::Corners => {
            let margin = match reading.take(Q::Margin)? {
                Some(m) => m,
                None => DEFAULT_MARGIN_PER_DIAMETER * diameter,
            };
            params.set("edge_margin", margin);
            let xs = [margin, length - margin];
            let ys = [margin, width - margin];
            (
                ys.iter()
                    .flat_map(|&y| xs.iter().map(move |&x| [x, y]))
                    .collect(),
                format!("at the corners, centres {} mm from the edges", fmt(margin)),
            )
        }
        Layout::Rectangle(a, b) => {
            params.set("pattern_length", a).set("pattern_width", b);
            let xs = [(length - a) / 2.0, (length + a) / 2.0];
            let ys = [(width - b) / 2.0, (width + b) / 2.0];
            (
                ys.iter()
                    .flat_map(|&y| xs.iter().map(move |&x| [x, y]))
                    .collect(),
                format!("on a centred {} x {} mm rectangle", fmt(a), fmt(b)),
            )
        }
        Layout::Row(n) => {
            let pitch = reading.take(Q::Pitch)?;
            let margin = if pitch.is_none() {
                reading.take(Q::Margin)?
            } else {
                None
            };
            if let Some(p) = pitch {
                params.set("hole_spacing", p);
            }
            if let Some(m) = margin {
                params.set("edge_margin", m);
            }
            (
                spread(n, length, pitch, margin)
                    .into_iter()
                    .map(|x| [x, width / 2.0])
                    .collect(),
                match (pitch, margin) {
                    (Some(p), _) => format!("in a row along the length, {} mm apart", fmt(p)),
                    (None, Some(m)) => format!(
                        "in a row along the length, the end ones {} mm from the ends",
                        fmt(m)
                    ),
                    (None, None) => "evenly spaced in a row along the length".to_owned(),
                },
            )
        }
        Layout::Grid(columns, rows) => grid_centres(reading, columns, rows, size, params)?,
    })
}

fn grid_centres(
    reading: &mut Reading,
    columns: f64,
    rows: f64,
    size: [f64; 3],
    params: &mut Params,
) -> Result<(Vec<[f64; 2]>, String), PlanError> {
    let [length, width, _] = size;
    // "25 x 20 mm apart": a pitch for each direction.
    let pattern = match (
        reading.take(Q::PatternLength)?,
        reading.take(Q::PatternWidth)?,
    ) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    let pitch = reading.take(Q::Pitch)?;
    let (pitch_x, pitch_y) = match (pattern, pitch) {
        (Some((a, b)), _) => (Some(a), Some(b)),
        (None, p) => (p, p),
    };
    let margin = if pitch_x.is_none() {
        reading.take(Q::Margin)?
    } else {
        None
    };
    params.set("grid_columns", columns).set("grid_rows", rows);
    match (pattern, pitch) {
        (Some((a, b)), _) => {
            params.set("hole_spacing", a).set("row_spacing", b);
        }
        (None, Some(p)) => {
            params.set("hole_spacing", p);
        }
        _ => {}
    }
    if let Some(m) = margin {
        params.set("edge_margin", m);
    }
    let xs = spread(columns, length, pitch_x, margin);
    let ys = spread(rows, width, pitch_y, margin);
    let words = match (pitch_x, pitch_y, margin) {
        (Some(a), Some(b), _) if a != b => format!(
            "in a {} x {} grid, {} mm apart along the length and {} mm across",
            fmt(columns),
            fmt(rows),
            fmt(a),
            fmt(b)
        ),
        (Some(p), _, _) => format!(
            "in a {} x {} grid, {} mm apart",
            fmt(columns),
            fmt(rows),
            fmt(p)
        ),
        (None, _, Some(m)) => format!(
            "in a {} x {} grid, outer centres {} mm from the edges",
            fmt(columns),
            fmt(rows),
            fmt(m)
        ),
        _ => format!("in a {} x {} grid", fmt(columns), fmt(rows)),
    };
    Ok((
        ys.iter()
            .flat_map(|&y| xs.iter().map(move |&x| [x, y]))
            .collect(),
        words,
    ))
}

fn plate_with_holes(reading: &mut Reading, cube: bool) -> Result<Design, PlanError> {
    let edges = edge_finish(reading, false)?;
    vertical_holes(reading, Feature::Hole);
    vertical_holes(reading, Feature::Bore);
    // Taken before the plate's sizes, so that "8 mm deep" is never read as a width.
    let depth = reading.take(Q::Depth)?;
    let size = cuboid_size(reading, cube)?;
    let (axis, axis_words) = hole_axis(reading, size)?;
    let diameter = hole_diameter(reading)?;
    let diameter = match diameter {
        Some(d) => d,
        // "a block with a 10 mm bore through the middle"
        None => {
            let bore = reading.take(Q::InnerDiameter)?;
            required(
                reading,
                bore,
                "the holes need a diameter, e.g. \"four 6 mm holes\"",
            )?
        }
    };
    let head = hole_head(reading, diameter)?;
    let kind = match (depth, head) {
        (Some(_), Some(_)) => {
            return Err(ambiguous(
                reading,
                "sunk holes go through the part; a depth is for blind holes",
            ));
        }
        (Some(d), None) => HoleKind::Blind(d),
        (None, Some(h)) => HoleKind::Sunk(h),
        (None, None) => HoleKind::Through,
    };
    if axis != Axis::Z && kind != HoleKind::Through {
        return Err(ambiguous(
            reading,
            &format!("blind and sunk holes go in from the top face, not {axis_words}"),
        ));
    }
    let layout = layout(reading)?;
    for n in match layout {
        Layout::Row(n) => vec![n],
        Layout::Grid(c, r) => vec![c, r],
        _ => vec![],
    } {
        if !(n >= 1.0 && n.fract() == 0.0 && n <= MAX_HOLES) {
            return Err(ambiguous(
                reading,
                &format!("{} is not a number of holes it can make", fmt(n)),
            ));
        }
    }
    let [length, width, height] = size;
    let mut params = Params::default();
    params
        .set("length", length)
        .set("width", width)
        .set("height", height)
        .set("hole_diameter", diameter);
    finish_params(&mut params, edges, false);
    let (centres, placement) = hole_centres(
        reading,
        layout,
        (axis, &axis_words),
        size,
        diameter,
        &mut params,
    )?;
    params.set("hole_count", centres.len() as f64);
    let plural = if centres.len() == 1 { "" } else { "s" };
    let kind_words = match kind {
        HoleKind::Through => format!("through-hole{plural}"),
        HoleKind::Blind(d) => {
            params.set("hole_depth", d);
            format!("blind hole{plural} {} mm deep", fmt(d))
        }
        HoleKind::Sunk(Head::Countersink { radius }) => {
            params.set("countersink_diameter", 2.0 * radius);
            format!("hole{plural} countersunk 90° to Ø{} mm", fmt(2.0 * radius))
        }
        HoleKind::Sunk(Head::Counterbore { radius, depth }) => {
            params
                .set("counterbore_diameter", 2.0 * radius)
                .set("counterbore_depth", depth);
            format!(
                "hole{plural} counterbored Ø{} mm, {} mm deep,",
                fmt(2.0 * radius),
                fmt(depth)
            )
        }
    };
    let direction = match axis {
        Axis::X => " running lengthwise",
        Axis::Y => " running front to back",
        Axis::Z => "",
    };
    let summary = format!(
        "{} with {} Ø{} mm {kind_words}{direction} {placement}",
        cuboid_summary(block_noun(size), size, edges),
        centres.len(),
        fmt(diameter),
    );
    let span = match axis {
        Axis::X => length,
        Axis::Y => width,
        Axis::Z => height,
    };
    let cuts = centres
        .into_iter()
        .map(|centre| match kind {
            HoleKind::Sunk(head) => Cut::SunkHole {
                centre,
                radius: diameter / 2.0,
                head,
                to: height,
            },
            HoleKind::Blind(depth) => Cut::Hole {
                axis,
                centre,
                radius: diameter / 2.0,
                from: height - depth,
                to: height,
                through: false,
            },
            HoleKind::Through => Cut::Hole {
                axis,
                centre,
                radius: diameter / 2.0,
                from: 0.0,
                to: span,
                through: true,
            },
        })
        .collect();
    Ok(Design::new(
        "plate_with_holes",
        summary,
        params,
        Part {
            body: cuboid(size, edges),
            cuts,
        },
    ))
}

/// A plate with obround slots: one centred, or several in a row along the length; each runs
/// along the length unless the prompt says across.
fn plate_with_slots(reading: &mut Reading, cube: bool) -> Result<Design, PlanError> {
    let edges = edge_finish(reading, false)?;
    vertical_holes(reading, Feature::Slot);
    let pair = reading.take_group(2, Some(Feature::Slot));
    let mut slot_length = reading.take(Q::SlotLength)?;
    let mut slot_width = reading.take(Q::SlotWidth)?;
    if let Some(pair) = pair {
        if slot_length.is_some() || slot_width.is_some() {
            return Err(ambiguous(reading, "the slot is given two sizes"));
        }
        slot_length = Some(pair[0].max(pair[1]));
        slot_width = Some(pair[0].min(pair[1]));
    }
    let size = cuboid_size(reading, cube)?;
    // "four 10 mm wide, 50 mm long slots": the comma cuts the width off from the slots, but
    // the plate's own sizes are already taken.
    if slot_width.is_none() {
        slot_width = reading.take(Q::Width)?;
    }
    if slot_length.is_none() {
        slot_length = reading.take(Q::Length)?;
    }
    let needs = "a slot needs its length and width, e.g. \"a 30 x 8 mm slot\" or \"a slot 30 mm \
                 long and 8 mm wide\"";
    let slot_length = required(reading, slot_length, needs)?;
    let slot_width = required(reading, slot_width, needs)?;
    if slot_length <= slot_width {
        return Err(ambiguous(
            reading,
            "a slot is longer than it is wide; its length is end to end",
        ));
    }
    let across = slot_direction(reading);
    let count = match reading.take_count_of(Feature::Slot)? {
        Some(n) => n,
        None => match hole_count(reading)? {
            Some(n) => n,
            None if reading.plural.contains(&Feature::Slot) => {
                return Err(ambiguous(
                    reading,
                    "it needs the number of slots, e.g. \"two 30 x 8 mm slots\"",
                ));
            }
            None => 1.0,
        },
    };
    if !(count >= 1.0 && count.fract() == 0.0 && count <= MAX_HOLES) {
        return Err(ambiguous(
            reading,
            &format!("{} is not a number of slots it can make", fmt(count)),
        ));
    }
    if reading.has_arrangement(Arrangement::Centred) && count != 1.0 {
        return Err(ambiguous(
            reading,
            "several slots cannot all be in the centre",
        ));
    }
    let [length, width, height] = size;
    let pitch = reading.take(Q::Pitch)?;
    let mut params = Params::default();
    params
        .set("length", length)
        .set("width", width)
        .set("height", height)
        .set("slot_length", slot_length)
        .set("slot_width", slot_width)
        .set("slot_count", count);
    if let Some(p) = pitch {
        params.set("slot_spacing", p);
    }
    if across {
        params.set("slots_across", 1.0);
    }
    finish_params(&mut params, edges, false);
    let cuts: Vec<Cut> = spread(count, length, pitch, None)
        .into_iter()
        .map(|x| Cut::Slot {
            centre: [x, width / 2.0],
            length: slot_length - slot_width,
            radius: slot_width / 2.0,
            to: height,
            along: if across { Axis::Y } else { Axis::X },
        })
        .collect();
    let n = cuts.len();
    Ok(Design::new(
        "plate_with_slots",
        format!(
            "{} with {n} obround slot{} {} x {} mm through, running {}, {}",
            cuboid_summary(block_noun(size), size, edges),
            if n == 1 { "" } else { "s" },
            fmt(slot_length),
            fmt(slot_width),
            if across {
                "across the width"
            } else {
                "along the length"
            },
            match (n, pitch) {
                (1, _) => "centred".to_owned(),
                (_, Some(p)) => format!("in a row {} mm apart", fmt(p)),
                _ => "evenly spaced along the length".to_owned(),
            }
        ),
        params,
        Part {
            body: cuboid(size, edges),
            cuts,
        },
    ))
}

/// Whether the slots run across the width ("crosswise", "front to back", "across") rather
/// than along the length (the default, also "lengthwise", "along the length").
fn slot_direction(reading: &mut Reading) -> bool {
    let mut across = None;
    for q in reading
        .qualifiers
        .iter()
        .filter(|q| !q.honoured && q.qualifier == Qualifier::Direction)
    {
        match q.along {
            Some(Q::Length) if across != Some(true) => across = Some(false),
            Some(Q::Width) if across != Some(false) => across = Some(true),
            _ => return false,
        }
    }
    if across.is_some() {
        for scope in [Scope::Part, Scope::Feature(Feature::Slot)] {
            reading.honour(scope, &[Qualifier::Direction]);
        }
    }
    across == Some(true)
}

fn cuboid(size: [f64; 3], edges: EdgeFinish) -> Body {
    Body::Cuboid {
        length: size[0],
        width: size[1],
        height: size[2],
        edges,
    }
}

fn block_with_pocket(reading: &mut Reading, cube: bool) -> Result<Design, PlanError> {
    let edges = edge_finish(reading, false)?;
    vertical_holes(reading, Feature::Hole);
    vertical_holes(reading, Feature::Pocket);
    // Taken before the block's sizes, so that "10 mm deep" is never read as a width.
    let mut depth = reading.take(Q::Depth)?;
    let rectangle = match reading.take_group(3, Some(Feature::Pocket)) {
        Some(group) => {
            if let Some(d) = depth
                && (d - group[2]).abs() > 1e-9 * d.max(1.0)
            {
                return Err(ambiguous(
                    reading,
                    &format!(
                        "the pocket is {} mm deep and {} mm deep",
                        fmt(group[2]),
                        fmt(d)
                    ),
                ));
            }
            depth = Some(group[2]);
            Some([group[0], group[1]])
        }
        None => reading
            .take_group(2, Some(Feature::Pocket))
            .map(|g| [g[0], g[1]]),
    };
    let round = match take_first(reading, &[Q::PocketDiameter])? {
        Some(d) => Some(d),
        None => hole_diameter(reading)?,
    };
    let size = cuboid_size(reading, cube)?;
    let depth = required(
        reading,
        depth,
        "a pocket or blind hole needs its depth, e.g. \"10 mm deep\"",
    )?;
    // A single hole: counts other than one are left for the leftover check to report.
    if let Some(count) = hole_count(reading)?
        && count != 1.0
    {
        return Err(ambiguous(
            reading,
            "it makes one centred pocket or blind hole, not several",
        ));
    }
    let [length, width, height] = size;
    let mut params = Params::default();
    params
        .set("length", length)
        .set("width", width)
        .set("height", height)
        .set("pocket_depth", depth);
    finish_params(&mut params, edges, false);
    let from = height - depth;
    let (cut, what) = match (rectangle, round) {
        (Some(_), Some(_)) => {
            return Err(ambiguous(
                reading,
                "the pocket has both a rectangle and a diameter",
            ));
        }
        (Some([pocket_length, pocket_width]), None) => {
            params
                .set("pocket_length", pocket_length)
                .set("pocket_width", pocket_width);
            (
                Cut::Pocket {
                    corner: [(length - pocket_length) / 2.0, (width - pocket_width) / 2.0],
                    size: [pocket_length, pocket_width],
                    from,
                    to: height,
                },
                format!(
                    "a centred {} x {} mm pocket {} mm deep",
                    fmt(pocket_length),
                    fmt(pocket_width),
                    fmt(depth)
                ),
            )
        }
        (None, Some(diameter)) => {
            params.set("pocket_diameter", diameter);
            (
                Cut::Hole {
                    axis: Axis::Z,
                    centre: [length / 2.0, width / 2.0],
                    radius: diameter / 2.0,
                    from,
                    to: height,
                    through: false,
                },
                format!(
                    "a centred Ø{} mm blind hole {} mm deep",
                    fmt(diameter),
                    fmt(depth)
                ),
            )
        }
        (None, None) => {
            return Err(ambiguous(
                reading,
                "a pocket needs its size, e.g. \"a 30x20x10 mm pocket\" or \"a 20 mm blind hole \
                 10 mm deep\"",
            ));
        }
    };
    Ok(Design::new(
        "block_with_pocket",
        format!(
            "{} with {what}",
            cuboid_summary(block_noun(size), size, edges)
        ),
        params,
        Part {
            body: cuboid(size, edges),
            cuts: vec![cut],
        },
    ))
}
