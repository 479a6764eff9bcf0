//! L-bracket: two legs at a right angle, one thickness, one width, and optional through-holes
//! in each leg (in a row across the width, centred on the leg's free part).

use super::geometry::{Axis, Body, Cut, Gussets, Part};
use super::{Design, Params, ambiguous, hole_diameter, no_edge_finish, required};
use crate::offline_planner::parse::{Arrangement, Feature, Quantity as Q, Reading};
use crate::offline_planner::{PlanError, fmt};

/// More holes per leg than this is not a bracket the catalogue makes.
const MAX_HOLES_PER_LEG: f64 = 50.0;

/// Gusset legs, as a share of the shorter leg's free length, when not given.
const DEFAULT_GUSSET_SHARE: f64 = 0.5;

/// The gussets asked for: "with a gusset", "two 30 mm gussets", "gusseted", a shelf bracket.
fn gussets(
    reading: &mut Reading,
    shelf: bool,
    room: f64,
    thickness: f64,
) -> Result<Gussets, PlanError> {
    let named = reading.has_feature(Feature::Gusset);
    let count = reading.take_count_of(Feature::Gusset)?;
    let size = reading.take(Q::GussetSize)?;
    let gusset_thickness = reading.take(Q::GussetThickness)?;
    if !(named || shelf) {
        return Ok(Gussets::NONE);
    }
    // One gusset sits in the middle; two, or a plural with no count, flush with both ends.
    let count = match count {
        Some(n) => n,
        None if reading.plural.contains(&Feature::Gusset) || !named => 2.0,
        None => 1.0,
    };
    if !(count == 1.0 || count == 2.0) {
        return Err(ambiguous(
            reading,
            &format!(
                "{} gussets: it makes one (in the middle) or two (at both ends)",
                fmt(count)
            ),
        ));
    }
    Ok(Gussets {
        count: count as u32,
        size: size.unwrap_or(DEFAULT_GUSSET_SHARE * room),
        thickness: gusset_thickness.unwrap_or(thickness),
    })
}

pub(super) fn l_bracket(reading: &mut Reading, shelf: bool) -> Result<Design, PlanError> {
    no_edge_finish(reading, "L-bracket")?;
    // "60x40x5" is the angle-profile notation: first leg x second leg x thickness.
    let (leg_x, leg_z, thickness) = match reading.take_group(3, None) {
        Some(g) => (Some(g[0]), Some(g[1]), Some(g[2])),
        None => {
            let mut leg_x = reading.take(Q::Length)?;
            let mut leg_z = reading.take(Q::Height)?;
            // "with 200 mm and 150 mm legs": two sizes with no label are the legs.
            if leg_x.is_none() && leg_z.is_none() {
                leg_x = reading.take_bare(None);
                leg_z = reading.take_bare(None);
            }
            (leg_x, leg_z, reading.take(Q::Thickness)?)
        }
    };
    let needs = "an L-bracket needs its two legs and its thickness, e.g. \"an L-bracket 60x40x5 \
                 mm\" (legs 60 and 40 mm, 5 mm thick)";
    let leg_x = required(reading, leg_x, needs)?;
    let leg_z = required(reading, leg_z, needs)?;
    let thickness = required(reading, thickness, needs)?;
    let given_width = reading.take(Q::Width)?;
    // Without a width the bracket is as wide as its shorter leg; the plan says so.
    let width = given_width.unwrap_or(leg_x.min(leg_z));

    let gussets = gussets(reading, shelf, leg_x.min(leg_z) - thickness, thickness)?;
    let mut params = Params::default();
    params
        .set("leg_length", leg_x)
        .set("leg_height", leg_z)
        .set("thickness", thickness)
        .set("width", width);
    if gussets.count > 0 {
        params
            .set("gusset_count", f64::from(gussets.count))
            .set("gusset_size", gussets.size)
            .set("gusset_thickness", gussets.thickness);
    }
    let mut summary = format!(
        "L-bracket, legs {} and {} mm, {} mm thick, {} mm wide{}",
        fmt(leg_x),
        fmt(leg_z),
        fmt(thickness),
        fmt(width),
        if given_width.is_none() {
            " (width not given: the shorter leg)"
        } else {
            ""
        }
    );
    if gussets.count > 0 {
        summary.push_str(&format!(
            ", {} triangular gusset{} {} mm thick with {} mm legs {}",
            gussets.count,
            if gussets.count == 1 { "" } else { "s" },
            fmt(gussets.thickness),
            fmt(gussets.size),
            if gussets.count == 1 {
                "in the middle"
            } else {
                "flush with both ends"
            }
        ));
    }
    let mut cuts = Vec::new();
    if reading.has_feature(Feature::Hole) {
        let diameter = hole_diameter(reading)?;
        let diameter = required(
            reading,
            diameter,
            "the holes need a diameter, e.g. \"a 6 mm hole in each leg\"",
        )?;
        let per_leg = holes_per_leg(reading)?;
        params
            .set("hole_diameter", diameter)
            .set("holes_per_leg", per_leg);
        let n = per_leg as usize;
        let ys: Vec<f64> = (0..n).map(|i| width * (i as f64 + 0.5) / per_leg).collect();
        // Centred on the free part of each leg, beyond the other leg's thickness.
        let x_centre = (thickness + leg_x) / 2.0;
        let z_centre = (thickness + leg_z) / 2.0;
        let hole = |axis, centre| Cut::Hole {
            axis,
            centre,
            radius: diameter / 2.0,
            from: 0.0,
            to: thickness,
            through: true,
        };
        cuts.extend(ys.iter().map(|&y| hole(Axis::Z, [x_centre, y])));
        cuts.extend(ys.iter().map(|&y| hole(Axis::X, [y, z_centre])));
        summary.push_str(&format!(
            ", {} Ø{} mm hole{} in each leg",
            n,
            fmt(diameter),
            if n == 1 { "" } else { "s" }
        ));
    }
    Ok(Design::new(
        "l_bracket",
        summary,
        params,
        Part {
            body: Body::Angle {
                leg_x,
                leg_z,
                width,
                thickness,
                gussets,
            },
            cuts,
        },
    ))
}

/// "a hole in each leg", "two holes per leg", "four holes" (two per leg), "two holes".
fn holes_per_leg(reading: &mut Reading) -> Result<f64, PlanError> {
    let counts = reading.take_counts();
    let per_leg_words = reading.has_arrangement(Arrangement::PerLeg);
    let per_leg = match (counts.as_slice(), per_leg_words) {
        ([], true) => 1.0,
        ([n], true) => *n,
        // "four holes, two in each leg"
        ([total, n], true) if *total == 2.0 * n => *n,
        ([total], false) if total % 2.0 == 0.0 => total / 2.0,
        ([total], false) => {
            return Err(ambiguous(
                reading,
                &format!(
                    "{} holes cannot be shared equally between the two legs; say how many go in \
                     each leg, e.g. \"two holes in each leg\"",
                    fmt(*total)
                ),
            ));
        }
        ([], false) => {
            return Err(ambiguous(
                reading,
                "it needs to know which leg the hole goes in, e.g. \"a 6 mm hole in each leg\"",
            ));
        }
        _ => return Err(ambiguous(reading, "the hole counts disagree")),
    };
    if !(per_leg >= 1.0 && per_leg.fract() == 0.0 && per_leg <= MAX_HOLES_PER_LEG) {
        return Err(ambiguous(
            reading,
            &format!("{} holes per leg is not a count it can make", fmt(per_leg)),
        ));
    }
    Ok(per_leg)
}
