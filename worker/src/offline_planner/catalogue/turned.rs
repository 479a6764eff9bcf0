//! Parts made of sections stacked on one axis: a stepped shaft, a pulley or wheel with a hub,
//! a hex bolt blank (ISO 4017 head, plain shank) and a hex standoff (plain bore).

use super::fasteners::{bolt_head, hex_standoff_flats, standard_sizes};
use super::geometry::{Axis, Body, Cut, Part, Section, Segment};
use super::solids::outer_diameter;
use super::{
    Design, Params, ambiguous, hole_diameter, no_edge_finish, required, take_first, unsupported,
};
use crate::offline_planner::parse::{Feature, Quantity as Q, Reading};
use crate::offline_planner::{PlanError, fmt};
use shared::error_code::ErrorCode;

/// More sections than this is not a shaft the catalogue makes.
const MAX_SECTIONS: usize = 12;

fn round(diameter: f64, height: f64) -> Segment {
    Segment {
        section: Section::Round {
            radius: diameter / 2.0,
        },
        height,
    }
}

fn bore_through(diameter: f64, length: f64) -> Cut {
    Cut::Hole {
        axis: Axis::Z,
        centre: [0.0, 0.0],
        radius: diameter / 2.0,
        from: 0.0,
        to: length,
        through: true,
    }
}

/// A bore given as an inner diameter, a bore or a hole through the axis.
fn bore(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    match reading.take_diameter(Q::InnerDiameter, Q::InnerRadius)? {
        Some(d) => Ok(Some(d)),
        None => hole_diameter(reading),
    }
}

/// The M size of the part itself or of its hole ("an M3 standoff", "a standoff for M3").
fn metric_size(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    match reading.take_metric(None)? {
        Some(m) => Ok(Some(m)),
        None => reading.take_metric(Some(Feature::Hole)),
    }
}

/// A length along the axis: length, height, or a lone size ("M8 x 40").
fn axial(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    match take_first(reading, &[Q::Length, Q::Height])? {
        Some(l) => Ok(Some(l)),
        None => Ok(reading.take_bare(None)),
    }
}

/// Sections given in order, each a diameter then its length: "Ø20 x 50, Ø15 x 30",
/// "30 mm diameter for 40 mm, then 20 mm diameter for 60 mm".
pub(super) fn stepped_shaft(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "stepped shaft")?;
    let sizes = reading.take_in_order(&[
        Q::Diameter,
        Q::Radius,
        Q::OuterDiameter,
        Q::Length,
        Q::Height,
    ]);
    let needs = "a stepped shaft needs each section's diameter and length in order, e.g. \"a \
                 stepped shaft: 20 mm diameter 50 mm long, then 12 mm diameter 30 mm long\"";
    let mut sections: Vec<(f64, f64)> = Vec::new();
    let mut diameter: Option<f64> = None;
    for (quantity, value) in sizes {
        match (diameter, quantity) {
            (None, Some(Q::Diameter | Q::OuterDiameter) | None) => diameter = Some(value),
            (None, Some(Q::Radius)) => diameter = Some(2.0 * value),
            (Some(d), Some(Q::Length | Q::Height) | None) => {
                sections.push((d, value));
                diameter = None;
            }
            _ => return Err(ambiguous(reading, needs)),
        }
    }
    if diameter.is_some() || sections.len() < 2 {
        return Err(ambiguous(reading, needs));
    }
    // "three sections: ...": the count must match what follows.
    for count in reading.take_plain_counts() {
        if count != sections.len() as f64 {
            return Err(ambiguous(
                reading,
                &format!(
                    "it names {} sections but gives {}",
                    fmt(count),
                    sections.len()
                ),
            ));
        }
    }
    if sections.len() > MAX_SECTIONS {
        return Err(ambiguous(
            reading,
            &format!("it makes shafts of up to {MAX_SECTIONS} sections"),
        ));
    }
    let mut params = Params::default();
    for (n, (d, l)) in sections.iter().enumerate() {
        params
            .set(&format!("section_{}_diameter", n + 1), *d)
            .set(&format!("section_{}_length", n + 1), *l);
    }
    let described: Vec<String> = sections
        .iter()
        .map(|(d, l)| format!("Ø{} x {} mm", fmt(*d), fmt(*l)))
        .collect();
    Ok(Design::new(
        "stepped_shaft",
        format!(
            "Stepped shaft, {} sections: {}",
            sections.len(),
            described.join(", ")
        ),
        params,
        Part::solid(Body::Stack {
            segments: sections.iter().map(|&(d, l)| round(d, l)).collect(),
        }),
    ))
}

/// A wheel or flat-faced pulley: a disc with a bore and, if asked, a hub on one face.
pub(super) fn pulley(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "pulley")?;
    let hub_diameter = reading.take(Q::HubDiameter)?;
    let hub_length = reading.take(Q::HubLength)?;
    let bore = bore(reading)?;
    let diameter = match outer_diameter(reading)? {
        Some(d) => Some(d),
        // "a 50 mm pulley": a lone size is its diameter.
        None => reading.take_bare(None),
    };
    let width = match take_first(reading, &[Q::Width, Q::Thickness, Q::Height, Q::Length])? {
        Some(w) => Some(w),
        // "a pulley Ø80 x 30": a bare size after the diameter is the width.
        None => reading.take_bare(None),
    };
    let diameter = required(
        reading,
        diameter,
        "a pulley or wheel needs its diameter, e.g. \"a pulley 60 mm in diameter, 20 mm wide\"",
    )?;
    let width = required(
        reading,
        width,
        "a pulley or wheel needs its width, e.g. \"20 mm wide\"",
    )?;
    let mut params = Params::default();
    params.set("diameter", diameter).set("width", width);
    let mut segments = vec![round(diameter, width)];
    let mut summary = format!(
        "Wheel (flat-faced pulley), diameter {} mm, {} mm wide",
        fmt(diameter),
        fmt(width)
    );
    let hub_asked = reading.has_feature(Feature::Hub);
    match (hub_diameter, hub_length) {
        (Some(d), Some(l)) => {
            params.set("hub_diameter", d).set("hub_length", l);
            segments.push(round(d, l));
            summary.push_str(&format!(
                ", hub Ø{} mm standing {} mm proud of one face",
                fmt(d),
                fmt(l)
            ));
        }
        (None, None) if !hub_asked => {}
        _ => {
            return Err(ambiguous(
                reading,
                "a hub needs its diameter and how far it stands out, e.g. \"a 30 mm hub 15 mm \
                 long\"",
            ));
        }
    }
    if let (Some(d), true) = (hub_diameter, hub_diameter >= Some(diameter)) {
        return Err(PlanError {
            code: ErrorCode::InvalidDimensions,
            message: format!(
                "A hub of {} mm on a {} mm wheel cannot be made: the hub must be narrower.",
                fmt(d),
                fmt(diameter)
            ),
        });
    }
    let length: f64 = segments.iter().map(|s| s.height).sum();
    let mut cuts = Vec::new();
    if let Some(b) = bore {
        params.set("bore_diameter", b);
        summary.push_str(&format!(", {} mm bore", fmt(b)));
        cuts.push(bore_through(b, length));
    }
    Ok(Design::new(
        "pulley",
        summary,
        params,
        Part {
            body: Body::Stack { segments },
            cuts,
        },
    ))
}

/// A hex bolt blank: an ISO 4017 hex head on a plain (unthreaded) shank of the nominal
/// diameter; the length is the shank's, under the head, as bolts are sold.
pub(super) fn hex_bolt(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "bolt")?;
    if reading.has_feature(Feature::Hole) || reading.has_feature(Feature::Bore) {
        return Err(unsupported(
            "it asks for a hole in a bolt, which the offline planner cannot make",
        ));
    }
    let metric = metric_size(reading)?;
    let across_flats = reading.take(Q::AcrossFlats)?;
    let head_height = reading.take(Q::HeadHeight)?;
    let shank = outer_diameter(reading)?;
    let length = axial(reading)?;
    let head = match metric {
        Some(m) => Some(bolt_head(m).ok_or_else(|| {
            unsupported(&format!(
                "it asks for an M{} bolt; the ISO 4017 sizes it knows are {}",
                fmt(m),
                standard_sizes()
            ))
        })?),
        None => None,
    };
    let (shank, across_flats, head_height) = match (metric, head, shank) {
        (Some(m), Some((s, k)), d) => (
            d.unwrap_or(m),
            across_flats.unwrap_or(s),
            head_height.unwrap_or(k),
        ),
        (None, _, Some(d)) if across_flats.is_some() && head_height.is_some() => (
            d,
            across_flats.unwrap_or_default(),
            head_height.unwrap_or_default(),
        ),
        _ => {
            return Err(ambiguous(
                reading,
                "a bolt needs an M size and a length, e.g. \"an M8 x 40 hex bolt\"",
            ));
        }
    };
    let length = required(
        reading,
        length,
        "a bolt needs its length under the head, e.g. \"an M8 bolt 40 mm long\"",
    )?;
    if shank >= across_flats {
        return Err(PlanError {
            code: ErrorCode::InvalidDimensions,
            message: format!(
                "A {} mm shank under a {} mm hex head cannot be made: the head must be wider.",
                fmt(shank),
                fmt(across_flats)
            ),
        });
    }
    let mut params = Params::default();
    params
        .set("shank_diameter", shank)
        .set("length", length)
        .set("across_flats", across_flats)
        .set("head_height", head_height);
    if let Some(m) = metric {
        params.set("metric_size", m);
    }
    Ok(Design::new(
        "hex_bolt",
        format!(
            "Hex bolt blank{}, plain shank Ø{} x {} mm (no thread), hex head {} mm across flats, \
             {} mm high",
            metric.map_or(String::new(), |m| format!(" M{} (ISO 4017 head)", fmt(m))),
            fmt(shank),
            fmt(length),
            fmt(across_flats),
            fmt(head_height)
        ),
        params,
        Part::solid(Body::Stack {
            segments: vec![
                Segment {
                    section: Section::Hex { across_flats },
                    height: head_height,
                },
                round(shank, length),
            ],
        }),
    ))
}

/// A hex standoff: a hexagonal bar with a plain bore of the nominal size (no thread).
pub(super) fn hex_standoff(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "hex standoff")?;
    let metric = metric_size(reading)?;
    let inner = bore(reading)?;
    let length = take_first(reading, &[Q::Length, Q::Height])?;
    // "a 6 mm hex standoff": a lone size before the noun is across the flats, unless it is
    // the only size of an M standoff ("an M3 x 10 hex standoff": its length).
    let (across_flats, length) = match (reading.take(Q::AcrossFlats)?, length, metric) {
        (Some(af), l, _) => (Some(af), l.or_else(|| reading.take_bare(None))),
        (None, None, Some(_)) => (None, reading.take_bare(None)),
        (None, l, _) => (reading.take_bare(None), l),
    };
    let standard = match metric {
        Some(m) => Some(hex_standoff_flats(m).ok_or_else(|| {
            unsupported(&format!(
                "it asks for an M{} hex standoff; the sizes it knows are M2, M2.5, M3, M4, M5, \
                 M6 and M8",
                fmt(m)
            ))
        })?),
        None => None,
    };
    let (across_flats, inner) = match (metric, standard, across_flats, inner) {
        (Some(m), Some(s), af, i) => (af.unwrap_or(s), i.unwrap_or(m)),
        (None, _, Some(af), Some(i)) => (af, i),
        _ => {
            return Err(ambiguous(
                reading,
                "a hex standoff needs an M size (\"an M3 hex standoff 20 mm long\") or its width \
                 across flats and bore",
            ));
        }
    };
    let length = required(
        reading,
        length,
        "a hex standoff needs its length, e.g. \"20 mm long\"",
    )?;
    let mut params = Params::default();
    params
        .set("across_flats", across_flats)
        .set("bore_diameter", inner)
        .set("length", length);
    if let Some(m) = metric {
        params.set("metric_size", m);
    }
    Ok(Design::new(
        "hex_standoff",
        format!(
            "Hex standoff{}, {} mm across flats, {} mm long, plain bore {} mm (no thread)",
            metric.map_or(String::new(), |m| format!(" M{}", fmt(m))),
            fmt(across_flats),
            fmt(length),
            fmt(inner)
        ),
        params,
        Part {
            body: Body::HexPrism {
                across_flats,
                height: length,
            },
            cuts: vec![bore_through(inner, length)],
        },
    ))
}
