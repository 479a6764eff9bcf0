//! Plain solids: box / cube and cylinder (with optional fillets or chamfers on their outer
//! edges), sphere, cone and truncated cone, torus.

use super::geometry::{Axis, Body, Cut, EdgeFinish, Part};
use super::{
    Design, Params, ambiguous, edge_finish, hole_diameter, no_edge_finish, no_holes, required,
    take_first, unsupported,
};
use crate::offline_planner::parse::{Feature, Qualifier, Quantity as Q, Reading, Scope};
use crate::offline_planner::{PlanError, fmt};

/// Length, width and height of a box: "100x50x30", "100 x 50, 5 mm thick",
/// "length 100, width 50, height 30", or one side for a cube.
pub(super) fn cuboid_size(reading: &mut Reading, cube: bool) -> Result<[f64; 3], PlanError> {
    if let Some(size) = reading.take_group(3, None) {
        return Ok([size[0], size[1], size[2]]);
    }
    let pair = reading.take_group(2, None);
    let mut length = reading.take(Q::Length)?;
    let mut width = take_first(reading, &[Q::Width, Q::Depth])?;
    let mut height = take_first(reading, &[Q::Height, Q::Thickness])?;
    if let Some(pair) = pair {
        if length.is_none() && width.is_none() {
            (length, width) = (Some(pair[0]), Some(pair[1]));
        } else if height.is_none() && width.is_none() {
            (width, height) = (Some(pair[0]), Some(pair[1]));
        } else {
            return Err(ambiguous(
                reading,
                &format!(
                    "{} x {} mm does not say which sides it gives",
                    fmt(pair[0]),
                    fmt(pair[1])
                ),
            ));
        }
    }
    // "a square plate 100 mm on a side, 5 mm thick"; "a 20 mm square bar 100 mm long".
    if !cube && width.is_none() && (length.is_none() || height.is_none()) {
        match (reading.take(Q::Side)?, length) {
            (Some(side), None) => (length, width) = (Some(side), Some(side)),
            (Some(side), Some(_)) => (width, height) = (Some(side), Some(side)),
            (None, _) => {}
        }
    }
    if cube && length.is_none() && width.is_none() && height.is_none() {
        let side = match take_first(reading, &[Q::Side])? {
            Some(side) => Some(side),
            None => reading.take_bare(None),
        };
        if let Some(side) = side {
            return Ok([side; 3]);
        }
    }
    // "a 100 x 50 mm plate, 5 thick" is covered above; a lone bare number completes a box
    // only when exactly one side is missing.
    let missing = [length, width, height]
        .iter()
        .filter(|v| v.is_none())
        .count();
    if missing == 1
        && let Some(bare) = reading.take_bare(None)
    {
        if length.is_none() {
            length = Some(bare);
        } else if width.is_none() {
            width = Some(bare);
        } else {
            height = Some(bare);
        }
    }
    let needs = if cube {
        "a cube needs the length of its side, e.g. \"a 20 mm cube\""
    } else {
        "a box needs its length, width and height, e.g. \"a box 100x50x30 mm\" or \"a plate \
         100 x 50 mm, 5 mm thick\""
    };
    Ok([
        required(reading, length, needs)?,
        required(reading, width, needs)?,
        required(reading, height, needs)?,
    ])
}

pub(super) fn cuboid_summary(noun: &str, size: [f64; 3], edges: EdgeFinish) -> String {
    format!(
        "{noun} {} x {} x {} mm{}",
        fmt(size[0]),
        fmt(size[1]),
        fmt(size[2]),
        edges.describe(false)
    )
}

/// The finish as a parameter: `fillet_radius` / `chamfer` on every edge, with the edges
/// chosen in front otherwise (`top_edge_fillet_radius`, `vertical_edge_chamfer`,
/// `top_rim_chamfer`).
pub(super) fn finish_params(params: &mut Params, edges: EdgeFinish, round: bool) {
    match edges {
        EdgeFinish::Sharp => {}
        EdgeFinish::Fillet(r, which) => {
            let name = format!("{}fillet_radius", which.parameter_prefix(round));
            params.set(&name, r);
        }
        EdgeFinish::Chamfer(c, which) => {
            let name = format!("{}chamfer", which.parameter_prefix(round));
            params.set(&name, c);
        }
    }
}

pub(super) fn plain_box(reading: &mut Reading, cube: bool) -> Result<Design, PlanError> {
    let edges = edge_finish(reading, false)?;
    let size = cuboid_size(reading, cube)?;
    let mut params = Params::default();
    params
        .set("length", size[0])
        .set("width", size[1])
        .set("height", size[2]);
    finish_params(&mut params, edges, false);
    let noun = if size[0] == size[1] && size[1] == size[2] {
        "Cube"
    } else {
        "Box"
    };
    Ok(Design::new(
        "box",
        cuboid_summary(noun, size, edges),
        params,
        Part::solid(Body::Cuboid {
            length: size[0],
            width: size[1],
            height: size[2],
            edges,
        }),
    ))
}

/// The outside diameter of a round part: given as a diameter, a radius, or an outer one.
pub(super) fn outer_diameter(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    let plain = reading.take_diameter(Q::Diameter, Q::Radius)?;
    let outer = reading.take_diameter(Q::OuterDiameter, Q::OuterRadius)?;
    match (plain, outer) {
        (Some(a), Some(b)) if (a - b).abs() > 1e-9 * a.max(1.0) => Err(ambiguous(
            reading,
            &format!("two different diameters ({} and {} mm)", fmt(a), fmt(b)),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// The height of a part standing on its axis: height, length or thickness.
pub(super) fn axial_length(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    take_first(reading, &[Q::Height, Q::Length, Q::Thickness])
}

/// Direction words that say a hole crosses a round part's axis: "a 6 mm cross hole", "cross
/// drilled", "a hole drilled across it", "a transverse hole".
const CROSS_WORDS: &[&str] = &[
    "cross",
    "cross drilled",
    "crosswise",
    "crossways",
    "transverse",
    "radial",
    "radially",
    "drilled across",
    "across it",
    "sideways",
];

/// The cross-hole words of the prompt not yet honoured, about the part or a hole.
fn open_cross_words(
    reading: &Reading,
) -> impl Iterator<Item = &crate::offline_planner::parse::QualifierUse> {
    reading.qualifiers.iter().filter(|q| {
        !q.honoured
            && q.qualifier == Qualifier::Direction
            && matches!(q.scope, Scope::Part | Scope::Feature(Feature::Hole))
            && CROSS_WORDS.contains(&q.words.as_str())
    })
}

/// Whether the prompt asks for a hole across a cylinder's axis ("with a 6 mm cross hole").
pub(super) fn asks_for_cross_hole(reading: &Reading) -> bool {
    reading.has_feature(Feature::Hole)
        && !reading.has_feature(Feature::Bore)
        && open_cross_words(reading).next().is_some()
}

/// One hole straight through a cylinder's axis, along x, at mid-height or at the height
/// given ("20 mm from the top"): its diameter and the height of its centre above the bottom.
/// The cross words are honoured only here, once the hole is made.
fn cross_hole(reading: &mut Reading, height: f64) -> Result<(f64, f64), PlanError> {
    if reading.plural_holes || reading.counts_given() {
        return Err(unsupported(
            "it asks for more than one hole across a cylinder; the offline planner makes one \
             cross hole through the axis (\"a 25 mm rod 80 mm long with a 5 mm cross hole\")",
        ));
    }
    if reading.blind || reading.has_value(Q::Depth) {
        return Err(unsupported(
            "it asks for a blind hole across a cylinder; the offline planner makes a cross hole \
             straight through the axis",
        ));
    }
    let diameter = hole_diameter(reading)?;
    let diameter = required(
        reading,
        diameter,
        "the cross hole needs a diameter, e.g. \"a 6 mm cross hole\"",
    )?;
    let from_top = reading.take(Q::FromTop)?;
    let from_bottom = reading.take(Q::FromBottom)?;
    let centre = match (from_top, from_bottom) {
        (None, None) => height / 2.0,
        (Some(t), None) => height - t,
        (None, Some(b)) => b,
        (Some(t), Some(b)) => {
            return Err(ambiguous(
                reading,
                &format!(
                    "the cross hole is placed both {} mm from the top and {} mm from the bottom",
                    fmt(t),
                    fmt(b)
                ),
            ));
        }
    };
    let words: Vec<String> = open_cross_words(reading).map(|q| q.words.clone()).collect();
    for q in &mut reading.qualifiers {
        if q.qualifier == Qualifier::Direction && words.contains(&q.words) {
            q.honoured = true;
        }
    }
    Ok((diameter, centre))
}

pub(super) fn cylinder(reading: &mut Reading) -> Result<Design, PlanError> {
    let edges = edge_finish(reading, true)?;
    let mut diameter = outer_diameter(reading)?;
    let mut height = axial_length(reading)?;
    if diameter.is_some() && height.is_none() {
        // "Ø40 x 25": a diameter and a bare length.
        height = reading.take_bare(None);
    }
    if diameter.is_none() && height.is_some() {
        // "a 25 mm rod 80 mm long": a bare size and a length; the bare one is across.
        diameter = reading.take_bare(None);
    }
    let diameter = required(
        reading,
        diameter,
        "a cylinder needs a diameter or a radius, e.g. \"40 mm in diameter\"",
    )?;
    let height = required(
        reading,
        height,
        &format!(
            "a cylinder {} mm in diameter also needs a height, e.g. \"25 mm tall\"",
            fmt(diameter)
        ),
    )?;
    let cross = if asks_for_cross_hole(reading) {
        Some(cross_hole(reading, height)?)
    } else {
        None
    };
    let mut params = Params::default();
    params.set("diameter", diameter).set("height", height);
    finish_params(&mut params, edges, true);
    let mut summary = format!(
        "Cylinder, diameter {} mm, height {} mm{}",
        fmt(diameter),
        fmt(height),
        edges.describe(true)
    );
    let mut part = Part::solid(Body::Cylinder {
        radius: diameter / 2.0,
        height,
        edges,
    });
    if let Some((hole, centre)) = cross {
        params
            .set("hole_diameter", hole)
            .set("hole_centre_height", centre);
        summary.push_str(&format!(
            ", with a Ø{} mm cross hole through its axis, {} mm from the bottom",
            fmt(hole),
            fmt(centre)
        ));
        // Along x, a little past the body on both sides in the script.
        part.cuts.push(Cut::Hole {
            axis: Axis::X,
            centre: [0.0, centre],
            radius: hole / 2.0,
            from: -diameter / 2.0,
            to: diameter / 2.0,
            through: true,
        });
    }
    Ok(Design::new("cylinder", summary, params, part))
}

pub(super) fn sphere(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "sphere")?;
    no_holes(reading, "sphere")?;
    let diameter = match outer_diameter(reading)? {
        Some(d) => Some(d),
        None => reading.take_bare(None),
    };
    let diameter = required(
        reading,
        diameter,
        "a sphere needs a diameter or a radius, e.g. \"a 50 mm sphere\"",
    )?;
    let mut params = Params::default();
    params.set("diameter", diameter);
    Ok(Design::new(
        "sphere",
        format!("Sphere, diameter {} mm", fmt(diameter)),
        params,
        Part::solid(Body::Sphere {
            radius: diameter / 2.0,
        }),
    ))
}

/// A cone (top diameter 0) or, when `truncated` or a top diameter is given, a truncated cone.
pub(super) fn cone(reading: &mut Reading, truncated: bool) -> Result<Design, PlanError> {
    no_edge_finish(reading, "cone")?;
    no_holes(reading, "cone")?;
    let base = match reading.take_diameter(Q::BaseDiameter, Q::BaseRadius)? {
        Some(base) => Some(base),
        None => outer_diameter(reading)?,
    };
    let top = reading.take_diameter(Q::TopDiameter, Q::TopRadius)?;
    let height = axial_length(reading)?;
    let base = required(
        reading,
        base,
        "a cone needs its base diameter, e.g. \"base diameter 40\"",
    )?;
    let top = match top {
        Some(top) => top,
        None if truncated => {
            return Err(ambiguous(
                reading,
                "a truncated cone needs its top diameter, e.g. \"top diameter 20\"",
            ));
        }
        None => 0.0,
    };
    let height = required(
        reading,
        height,
        "a cone needs its height, e.g. \"30 mm high\"",
    )?;
    let mut params = Params::default();
    params
        .set("base_diameter", base)
        .set("top_diameter", top)
        .set("height", height);
    let summary = if top == 0.0 {
        format!(
            "Cone, base diameter {} mm, height {} mm",
            fmt(base),
            fmt(height)
        )
    } else {
        format!(
            "Truncated cone, base diameter {} mm, top diameter {} mm, height {} mm",
            fmt(base),
            fmt(top),
            fmt(height)
        )
    };
    Ok(Design::new(
        "cone",
        summary,
        params,
        Part::solid(Body::Cone {
            base_radius: base / 2.0,
            top_radius: top / 2.0,
            height,
        }),
    ))
}

/// A torus from its major and minor sizes, or its outer and inner diameters, or its outer
/// diameter and the thickness of its tube.
pub(super) fn torus(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "torus")?;
    no_holes(reading, "torus")?;
    let major = reading.take_diameter(Q::MajorDiameter, Q::MajorRadius)?;
    let minor = match reading.take_diameter(Q::MinorDiameter, Q::MinorRadius)? {
        Some(minor) => Some(minor),
        None => reading.take(Q::Thickness)?,
    };
    // "a 50 mm O-ring": a lone size is the outer diameter.
    let outer = match outer_diameter(reading)? {
        Some(outer) => Some(outer),
        None if major.is_none() => reading.take_bare(None),
        None => None,
    };
    let inner = reading.take_diameter(Q::InnerDiameter, Q::InnerRadius)?;
    // Everything below in diameters: the circle through the tube's centre, and the tube's.
    let (centre_diameter, tube_diameter) = match (major, minor, outer, inner) {
        (Some(major), Some(minor), None, None) => (major, minor),
        (None, None, Some(outer), Some(inner)) => ((outer + inner) / 2.0, (outer - inner) / 2.0),
        (None, Some(minor), Some(outer), None) => (outer - minor, minor),
        (None, Some(minor), None, Some(inner)) => (inner + minor, minor),
        _ => {
            return Err(ambiguous(
                reading,
                "a torus needs two sizes: its major and minor radius (\"major radius 30, minor \
                 radius 5\"), its outer and inner diameter, or its outer diameter and its tube \
                 diameter (\"50 mm across with a 10 mm cross section\")",
            ));
        }
    };
    let mut params = Params::default();
    params
        .set("major_radius", centre_diameter / 2.0)
        .set("minor_radius", tube_diameter / 2.0);
    Ok(Design::new(
        "torus",
        format!(
            "Torus, major radius {} mm, minor radius {} mm (outer diameter {} mm)",
            fmt(centre_diameter / 2.0),
            fmt(tube_diameter / 2.0),
            fmt(centre_diameter + tube_diameter)
        ),
        params,
        Part::solid(Body::Torus {
            major_radius: centre_diameter / 2.0,
            minor_radius: tube_diameter / 2.0,
        }),
    ))
}
