//! Round parts with a bore: tube, spacer / standoff, flange with bolt holes on a pitch
//! circle; and the words that lead to them ("a disc with a 20 mm hole", "a flat ring").

use std::f64::consts::PI;

use super::fasteners::{clearance_hole, clearance_sizes, washer};
use super::geometry::{Axis, Body, Cut, EdgeFinish, Part};
use super::solids::{axial_length, cylinder, outer_diameter, torus};
use super::{
    Design, Params, ambiguous, hole_diameter, no_edge_finish, required, take_first, unsupported,
};
use crate::offline_planner::parse::{Arrangement, Feature, Qualifier, Quantity as Q, Reading};
use crate::offline_planner::{PlanError, fmt};
use shared::error_code::ErrorCode;

/// A spacer for an M size is this many times the nominal diameter across, when not given.
const SPACER_OUTER_PER_NOMINAL: f64 = 2.0;

/// The bore of a round part: inner diameter, bore, or a hole through its middle.
fn inner_diameter(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    match reading.take_diameter(Q::InnerDiameter, Q::InnerRadius)? {
        Some(d) => Ok(Some(d)),
        None => hole_diameter(reading),
    }
}

/// Outer and inner diameter from any two of outer diameter, inner diameter and wall.
fn ring_diameters(
    reading: &mut Reading,
    outer: Option<f64>,
    inner: Option<f64>,
    part: &str,
) -> Result<(f64, f64), PlanError> {
    let wall = reading.take(Q::Wall)?;
    match (outer, inner, wall) {
        (Some(o), Some(i), Some(w)) if (o - i - 2.0 * w).abs() > 1e-9 * o.max(1.0) => {
            Err(ambiguous(
                reading,
                &format!(
                    "an outer diameter of {} mm, an inner diameter of {} mm and a {} mm wall \
                     do not agree",
                    fmt(o),
                    fmt(i),
                    fmt(w)
                ),
            ))
        }
        (Some(o), Some(i), _) => Ok((o, i)),
        (Some(o), None, Some(w)) => Ok((o, o - 2.0 * w)),
        (None, Some(i), Some(w)) => Ok((i + 2.0 * w, i)),
        _ => Err(ambiguous(
            reading,
            &format!(
                "a {part} needs two of its outer diameter, inner diameter and wall thickness, \
                 e.g. \"30 mm OD, 24 mm ID\" or \"30 mm OD with a 3 mm wall\""
            ),
        )),
    }
}

fn check_ring(reading: &Reading, outer: f64, inner: f64) -> Result<(), PlanError> {
    if inner >= outer || inner <= 0.0 {
        return Err(PlanError {
            code: ErrorCode::InvalidDimensions,
            message: format!(
                "A ring with an outer diameter of {} mm and an inner diameter of {} mm cannot \
                 be made: the inner diameter must be above 0 and smaller than the outer. \
                 Understood: {}.",
                fmt(outer),
                fmt(inner),
                reading.understood()
            ),
        });
    }
    Ok(())
}

/// A cylinder with a coaxial through-bore.
fn hollow_cylinder(outer: f64, inner: f64, length: f64) -> Part {
    Part {
        body: Body::Cylinder {
            radius: outer / 2.0,
            height: length,
            edges: EdgeFinish::Sharp,
        },
        cuts: vec![Cut::Hole {
            axis: Axis::Z,
            centre: [0.0, 0.0],
            radius: inner / 2.0,
            from: 0.0,
            to: length,
            through: true,
        }],
    }
}

fn tube_like(
    reading: &mut Reading,
    entry: &'static str,
    noun: &str,
    outer: Option<f64>,
    inner: Option<f64>,
) -> Result<Design, PlanError> {
    let length = axial_length(reading)?;
    let (outer, inner) = ring_diameters(reading, outer, inner, noun)?;
    let length = required(
        reading,
        length,
        &format!("a {noun} needs its length, e.g. \"100 mm long\""),
    )?;
    check_ring(reading, outer, inner)?;
    let mut params = Params::default();
    params
        .set("outer_diameter", outer)
        .set("inner_diameter", inner)
        .set("length", length);
    let capitalised = format!("{}{}", noun[..1].to_uppercase(), &noun[1..]);
    Ok(Design::new(
        entry,
        format!(
            "{capitalised}, outer diameter {} mm, inner diameter {} mm (wall {} mm), length {} mm",
            fmt(outer),
            fmt(inner),
            fmt((outer - inner) / 2.0),
            fmt(length)
        ),
        params,
        hollow_cylinder(outer, inner, length),
    ))
}

pub(super) fn tube(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "tube")?;
    let outer = outer_diameter(reading)?;
    let inner = inner_diameter(reading)?;
    tube_like(reading, "tube", "tube", outer, inner)
}

/// A spacer or standoff: a short tube; from an M size its bore is the ISO 273 medium
/// clearance hole and it is twice the nominal size across unless told otherwise.
pub(super) fn spacer(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "spacer")?;
    let mut outer = outer_diameter(reading)?;
    let mut inner = inner_diameter(reading)?;
    let metric = match reading.take_metric(None)? {
        Some(m) => Some(m),
        None => reading.take_metric(Some(Feature::Hole))?,
    };
    if let Some(m) = metric {
        let clearance = clearance_hole(m).ok_or_else(|| {
            unsupported(&format!(
                "it asks for an M{} spacer; the known sizes are {}",
                fmt(m),
                clearance_sizes()
            ))
        })?;
        inner = inner.or(Some(clearance));
        if outer.is_none() && !reading.has_value(Q::Wall) {
            outer = Some(SPACER_OUTER_PER_NOMINAL * m);
        }
    }
    tube_like(reading, "spacer", "spacer", outer, inner)
}

/// "a disc with a 20 mm hole through the middle" is a tube; holes off the axis are a flange.
pub(super) fn cylinder_or_tube(reading: &mut Reading) -> Result<Design, PlanError> {
    // "a shaft 40 mm diameter 20 mm long, then 25 mm diameter for 60 mm": sections.
    if reading.distinct_values(&[Q::Diameter, Q::OuterDiameter]) >= 2
        && !(reading.has_feature(Feature::Hole) || reading.has_feature(Feature::Bore))
    {
        return super::turned::stepped_shaft(reading);
    }
    // "a rod with a 5 mm cross hole": a hole across the axis, not a bore along it.
    if !(reading.has_feature(Feature::Hole) || reading.has_feature(Feature::Bore))
        || super::solids::asks_for_cross_hole(reading)
    {
        return cylinder(reading);
    }
    let off_axis = reading.plural_holes
        || [
            Arrangement::Corners,
            Arrangement::EachCorner,
            Arrangement::Row,
            Arrangement::Grid,
        ]
        .iter()
        .any(|a| reading.has_arrangement(*a));
    if off_axis || reading.blind || reading.has_value(Q::Depth) {
        return Err(unsupported(
            "it asks for holes in a cylinder other than one through its axis; a disc with bolt \
             holes on a circle is a flange (\"a flange 100 mm OD, 40 mm bore, 10 mm thick with \
             4 holes of 8 mm\")",
        ));
    }
    no_edge_finish(reading, "cylinder with a bore")?;
    // "a hole through its length", "axially": the axis is the only way a bore runs.
    let directions = reading
        .qualifiers
        .iter()
        .filter(|q| q.qualifier == Qualifier::Direction);
    if directions.clone().count() > 0
        && directions.clone().all(|q| {
            matches!(q.along, Some(Q::Length | Q::Height))
                || matches!(q.words.as_str(), "axial" | "axially")
        })
    {
        reading.honour_anywhere(&[Qualifier::Direction]);
    }
    let outer = outer_diameter(reading)?;
    let inner = inner_diameter(reading)?;
    tube_like(reading, "tube", "tube", outer, inner)
}

/// "ring" is a torus unless it has a thickness and both diameters: then it is a flat ring,
/// which is a washer with its own sizes.
pub(super) fn flat_ring_or_torus(reading: &mut Reading) -> Result<Design, PlanError> {
    let has_inner = reading.has_value(Q::InnerDiameter) || reading.has_value(Q::InnerRadius);
    let has_outer = reading.has_value(Q::OuterDiameter)
        || reading.has_value(Q::OuterRadius)
        || reading.has_value(Q::Diameter);
    let has_height = [Q::Thickness, Q::Height, Q::Length]
        .iter()
        .any(|q| reading.has_value(*q));
    if has_inner && has_outer && has_height {
        washer(reading)
    } else {
        torus(reading)
    }
}

pub(super) fn flange(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "flange")?;
    let outer = outer_diameter(reading)?;
    let outer = required(
        reading,
        outer,
        "a flange needs its outer diameter, e.g. \"120 mm OD\"",
    )?;
    let inner = reading.take_diameter(Q::InnerDiameter, Q::InnerRadius)?;
    let inner = required(
        reading,
        inner,
        "a flange needs its bore, e.g. \"a 60 mm bore\"",
    )?;
    let thickness = take_first(reading, &[Q::Thickness, Q::Height, Q::Length])?;
    let thickness = required(
        reading,
        thickness,
        "a flange needs its thickness, e.g. \"12 mm thick\"",
    )?;
    check_ring(reading, outer, inner)?;
    let counts = reading.take_counts();
    let count = match counts.as_slice() {
        [n] => *n,
        [] => {
            return Err(ambiguous(
                reading,
                "a flange needs its bolt holes: how many and how wide, e.g. \"6 holes of 10 mm\"",
            ));
        }
        _ => return Err(ambiguous(reading, "the hole counts disagree")),
    };
    if !(count >= 1.0 && count.fract() == 0.0 && count <= 360.0) {
        return Err(ambiguous(
            reading,
            &format!("{} is not a number of bolt holes it can make", fmt(count)),
        ));
    }
    let hole = hole_diameter(reading)?;
    let hole = required(
        reading,
        hole,
        "the bolt holes need a diameter, e.g. \"6 holes of 10 mm\" or \"6 M8 holes\"",
    )?;
    let pitch_circle = match reading.take(Q::PitchCircleDiameter)? {
        Some(p) => p,
        // Half-way between bore and rim: the most material on both sides of each hole.
        None => (outer + inner) / 2.0,
    };
    let mut params = Params::default();
    params
        .set("outer_diameter", outer)
        .set("inner_diameter", inner)
        .set("thickness", thickness)
        .set("hole_count", count)
        .set("hole_diameter", hole)
        .set("pitch_circle_diameter", pitch_circle);
    let mut cuts = vec![Cut::Hole {
        axis: Axis::Z,
        centre: [0.0, 0.0],
        radius: inner / 2.0,
        from: 0.0,
        to: thickness,
        through: true,
    }];
    let n = count as usize;
    cuts.extend((0..n).map(|i| {
        let angle = 2.0 * PI * i as f64 / count;
        Cut::Hole {
            axis: Axis::Z,
            centre: [
                pitch_circle / 2.0 * angle.cos(),
                pitch_circle / 2.0 * angle.sin(),
            ],
            radius: hole / 2.0,
            from: 0.0,
            to: thickness,
            through: true,
        }
    }));
    Ok(Design::new(
        "flange",
        format!(
            "Flange, outer diameter {} mm, bore {} mm, {} mm thick, {} Ø{} mm bolt holes on a \
             {} mm pitch circle",
            fmt(outer),
            fmt(inner),
            fmt(thickness),
            n,
            fmt(hole),
            fmt(pitch_circle)
        ),
        params,
        Part {
            body: Body::Cylinder {
                radius: outer / 2.0,
                height: thickness,
                edges: EdgeFinish::Sharp,
            },
            cuts,
        },
    ))
}
