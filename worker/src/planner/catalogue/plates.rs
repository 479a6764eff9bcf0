//! Box-shaped parts with cuts: a plate or block with through-holes (centred, at the corners,
//! in a row or in a grid) and a block with a centred pocket or blind hole. A plain box goes
//! to [`super::solids`].

use super::geometry::{Axis, Body, Cut, EdgeFinish, Part};
use super::solids::{cuboid_size, cuboid_summary, finish_params, plain_box};
use super::{
    Design, Params, ambiguous, edge_finish, hole_diameter, required, take_first, vertical_holes,
};
use crate::planner::parse::{Arrangement, Feature, Quantity as Q, Reading};
use crate::planner::{PlanError, fmt};

/// Default distance from a plate's edges to the centres of corner holes, in hole diameters:
/// the usual minimum edge distance for a bolted plate.
const DEFAULT_MARGIN_PER_DIAMETER: f64 = 1.5;
/// More holes than this is a perforated sheet, not a catalogue part.
const MAX_HOLES: f64 = 400.0;

/// A box, a plate with holes or a block with a pocket, by the features the prompt names.
pub(super) fn box_family(reading: &mut Reading, cube: bool) -> Result<Design, PlanError> {
    let blind = reading.blind || reading.has_value(Q::Depth);
    if reading.has_feature(Feature::Pocket) || (reading.has_feature(Feature::Hole) && blind) {
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

fn plate_with_holes(reading: &mut Reading, cube: bool) -> Result<Design, PlanError> {
    let edges = edge_finish(reading, false)?;
    vertical_holes(reading, Feature::Hole);
    vertical_holes(reading, Feature::Bore);
    let size = cuboid_size(reading, cube)?;
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
    let (centres, placement): (Vec<[f64; 2]>, String) = match layout {
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
        Layout::Grid(columns, rows) => {
            let pitch = reading.take(Q::Pitch)?;
            let margin = if pitch.is_none() {
                reading.take(Q::Margin)?
            } else {
                None
            };
            params.set("grid_columns", columns).set("grid_rows", rows);
            if let Some(p) = pitch {
                params.set("hole_spacing", p);
            }
            if let Some(m) = margin {
                params.set("edge_margin", m);
            }
            let xs = spread(columns, length, pitch, margin);
            let ys = spread(rows, width, pitch, margin);
            (
                ys.iter()
                    .flat_map(|&y| xs.iter().map(move |&x| [x, y]))
                    .collect(),
                match (pitch, margin) {
                    (Some(p), _) => format!(
                        "in a {} x {} grid, {} mm apart",
                        fmt(columns),
                        fmt(rows),
                        fmt(p)
                    ),
                    (None, Some(m)) => format!(
                        "in a {} x {} grid, outer centres {} mm from the edges",
                        fmt(columns),
                        fmt(rows),
                        fmt(m)
                    ),
                    (None, None) => format!("in a {} x {} grid", fmt(columns), fmt(rows)),
                },
            )
        }
    };
    params.set("hole_count", centres.len() as f64);
    let summary = format!(
        "{} with {} Ø{} mm through-hole{} {placement}",
        cuboid_summary(block_noun(size), size, edges),
        centres.len(),
        fmt(diameter),
        if centres.len() == 1 { "" } else { "s" },
    );
    let cuts = centres
        .into_iter()
        .map(|centre| Cut::Hole {
            axis: Axis::Z,
            centre,
            radius: diameter / 2.0,
            from: 0.0,
            to: height,
            through: true,
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
