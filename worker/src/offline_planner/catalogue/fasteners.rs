//! Standard hardware: flat washers (ISO 7089) and hex nuts (ISO 4032, plain bore, no thread),
//! from an M size or explicit sizes, and the ISO 273 clearance holes for M sizes.

use super::geometry::{Axis, Body, Cut, EdgeFinish, Part};
use super::solids::outer_diameter;
use super::{Design, Params, ambiguous, hole_diameter, no_edge_finish, take_first, unsupported};
use crate::offline_planner::parse::{Feature, Quantity as Q, Reading};
use crate::offline_planner::{PlanError, fmt};

/// ISO 4032 hex nuts: (M, width across flats s, height m max), mm.
const ISO_4032_NUTS: &[(f64, f64, f64)] = &[
    (3.0, 5.5, 2.4),
    (4.0, 7.0, 3.2),
    (5.0, 8.0, 4.7),
    (6.0, 10.0, 5.2),
    (8.0, 13.0, 6.8),
    (10.0, 16.0, 8.4),
    (12.0, 18.0, 10.8),
    (14.0, 21.0, 12.8),
    (16.0, 24.0, 14.8),
    (20.0, 30.0, 18.0),
    (24.0, 36.0, 21.5),
];

/// ISO 7089 plain washers, normal series: (M, inner d1, outer d2, thickness h), mm.
const ISO_7089_WASHERS: &[(f64, f64, f64, f64)] = &[
    (3.0, 3.2, 7.0, 0.5),
    (4.0, 4.3, 9.0, 0.8),
    (5.0, 5.3, 10.0, 1.0),
    (6.0, 6.4, 12.0, 1.6),
    (8.0, 8.4, 16.0, 1.6),
    (10.0, 10.5, 20.0, 2.0),
    (12.0, 13.0, 24.0, 2.5),
    (14.0, 15.0, 28.0, 2.5),
    (16.0, 17.0, 30.0, 3.0),
    (20.0, 21.0, 37.0, 3.0),
    (24.0, 25.0, 44.0, 4.0),
];

/// ISO 4017 hex head bolts: (M, width across flats s, head height k nominal), mm.
const ISO_4017_HEADS: &[(f64, f64, f64)] = &[
    (3.0, 5.5, 2.0),
    (4.0, 7.0, 2.8),
    (5.0, 8.0, 3.5),
    (6.0, 10.0, 4.0),
    (8.0, 13.0, 5.3),
    (10.0, 16.0, 6.4),
    (12.0, 18.0, 7.5),
    (14.0, 21.0, 8.8),
    (16.0, 24.0, 10.0),
    (20.0, 30.0, 12.5),
    (24.0, 36.0, 15.0),
];

/// Hex standoffs as sold for electronics: (M, width across flats), mm.
const HEX_STANDOFFS: &[(f64, f64)] = &[
    (2.0, 4.0),
    (2.5, 5.0),
    (3.0, 5.5),
    (4.0, 7.0),
    (5.0, 8.0),
    (6.0, 10.0),
    (8.0, 13.0),
];

/// ISO 10642 countersunk head screws: (M, head diameter dk), mm; the countersink for an M
/// size opens to this.
const ISO_10642_HEADS: &[(f64, f64)] = &[
    (3.0, 6.72),
    (4.0, 8.96),
    (5.0, 11.2),
    (6.0, 13.44),
    (8.0, 17.92),
    (10.0, 22.4),
    (12.0, 26.88),
    (16.0, 33.6),
    (20.0, 40.32),
];

/// Counterbores for ISO 4762 socket head cap screws (DIN 974-1, row 1): (M, counterbore
/// diameter, depth = head height + 0.4 mm), mm.
const COUNTERBORES: &[(f64, f64, f64)] = &[
    (3.0, 6.5, 3.4),
    (4.0, 8.0, 4.4),
    (5.0, 10.0, 5.4),
    (6.0, 11.0, 6.4),
    (8.0, 15.0, 8.4),
    (10.0, 18.0, 10.4),
    (12.0, 20.0, 12.4),
    (16.0, 26.0, 16.4),
    (20.0, 33.0, 20.4),
];

/// The ISO 4017 head of an M bolt: (across flats, height).
pub(super) fn bolt_head(m: f64) -> Option<(f64, f64)> {
    ISO_4017_HEADS
        .iter()
        .find(|row| row.0 == m)
        .map(|row| (row.1, row.2))
}

pub(super) fn standard_sizes() -> String {
    sizes(ISO_4017_HEADS, |row| row.0)
}

pub(super) fn hex_standoff_flats(m: f64) -> Option<f64> {
    HEX_STANDOFFS.iter().find(|row| row.0 == m).map(|row| row.1)
}

/// The countersink diameter for an M screw (ISO 10642 head).
pub(super) fn countersink_for(m: f64) -> Option<f64> {
    ISO_10642_HEADS
        .iter()
        .find(|row| row.0 == m)
        .map(|row| row.1)
}

/// The counterbore (diameter, depth) for an M socket head cap screw.
pub(super) fn counterbore_for(m: f64) -> Option<(f64, f64)> {
    COUNTERBORES
        .iter()
        .find(|row| row.0 == m)
        .map(|row| (row.1, row.2))
}

/// ISO 273 clearance holes, medium series: (M, hole diameter), mm.
const ISO_273_MEDIUM: &[(f64, f64)] = &[
    (3.0, 3.4),
    (4.0, 4.5),
    (5.0, 5.5),
    (6.0, 6.6),
    (8.0, 9.0),
    (10.0, 11.0),
    (12.0, 13.5),
    (14.0, 15.5),
    (16.0, 17.5),
    (20.0, 22.0),
    (24.0, 26.0),
];

/// The clearance hole for a bolt of size M (ISO 273 medium).
pub(super) fn clearance_hole(m: f64) -> Option<f64> {
    ISO_273_MEDIUM
        .iter()
        .find(|(size, _)| *size == m)
        .map(|(_, d)| *d)
}

fn sizes<T>(table: &[T], size: impl Fn(&T) -> f64) -> String {
    table
        .iter()
        .map(|row| format!("M{}", fmt(size(row))))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn clearance_sizes() -> String {
    sizes(ISO_273_MEDIUM, |row| row.0)
}

/// The M size of a fastener: "M6 washer", "a washer for M6", "nut for an M6 bolt".
fn metric_size(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    match reading.take_metric(None)? {
        Some(m) => Ok(Some(m)),
        None => reading.take_metric(Some(Feature::Hole)),
    }
}

fn bore(reading: &mut Reading) -> Result<Option<f64>, PlanError> {
    match reading.take_diameter(Q::InnerDiameter, Q::InnerRadius)? {
        Some(d) => Ok(Some(d)),
        None => hole_diameter(reading),
    }
}

pub(super) fn washer(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "washer")?;
    let metric = metric_size(reading)?;
    let inner = bore(reading)?;
    let outer = outer_diameter(reading)?;
    let thickness = take_first(reading, &[Q::Thickness, Q::Height, Q::Length])?;
    let standard = match metric {
        Some(m) => Some(
            ISO_7089_WASHERS
                .iter()
                .find(|row| row.0 == m)
                .ok_or_else(|| {
                    unsupported(&format!(
                        "it asks for an M{} washer; the ISO 7089 sizes it knows are {}",
                        fmt(m),
                        sizes(ISO_7089_WASHERS, |row| row.0)
                    ))
                })?,
        ),
        None => None,
    };
    // Sizes given in the prompt win over the standard's ("an M8 washer 3 mm thick").
    let (inner, outer, thickness) = match (standard, inner, outer, thickness) {
        (Some(&(_, d1, d2, h)), i, o, t) => (i.unwrap_or(d1), o.unwrap_or(d2), t.unwrap_or(h)),
        (None, Some(i), Some(o), Some(t)) => (i, o, t),
        _ => {
            return Err(ambiguous(
                reading,
                "a washer needs an M size (\"an M8 washer\") or its inner diameter, outer \
                 diameter and thickness",
            ));
        }
    };
    let mut params = Params::default();
    params
        .set("inner_diameter", inner)
        .set("outer_diameter", outer)
        .set("thickness", thickness);
    let standard_name = match metric {
        Some(m) => {
            params.set("metric_size", m);
            format!("M{} (ISO 7089) ", fmt(m))
        }
        None => String::new(),
    };
    let part = Part {
        body: Body::Cylinder {
            radius: outer / 2.0,
            height: thickness,
            edges: EdgeFinish::Sharp,
        },
        cuts: vec![Cut::Hole {
            axis: Axis::Z,
            centre: [0.0, 0.0],
            radius: inner / 2.0,
            from: 0.0,
            to: thickness,
            through: true,
        }],
    };
    Ok(Design::new(
        "washer",
        format!(
            "Washer {standard_name}, inner diameter {} mm, outer diameter {} mm, {} mm thick",
            fmt(inner),
            fmt(outer),
            fmt(thickness)
        )
        .replace(" ,", ","),
        params,
        part,
    ))
}

pub(super) fn hex_nut(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "hex nut")?;
    let metric = metric_size(reading)?;
    let across_flats = reading.take(Q::AcrossFlats)?;
    let height = take_first(reading, &[Q::Height, Q::Thickness])?;
    let inner = bore(reading)?;
    let standard = match metric {
        Some(m) => Some(ISO_4032_NUTS.iter().find(|row| row.0 == m).ok_or_else(|| {
            unsupported(&format!(
                "it asks for an M{} nut; the ISO 4032 sizes it knows are {}",
                fmt(m),
                sizes(ISO_4032_NUTS, |row| row.0)
            ))
        })?),
        None => None,
    };
    let (across_flats, height, inner) = match (standard, across_flats, height, inner) {
        (Some(&(m, s, h)), af, t, i) => (af.unwrap_or(s), t.unwrap_or(h), i.unwrap_or(m)),
        (None, Some(af), Some(t), Some(i)) => (af, t, i),
        _ => {
            return Err(ambiguous(
                reading,
                "a hex nut needs an M size from M3 to M24 (\"an M10 hex nut\") or its width \
                 across flats, height and bore",
            ));
        }
    };
    let mut params = Params::default();
    params
        .set("across_flats", across_flats)
        .set("height", height)
        .set("bore_diameter", inner);
    let standard_name = match metric {
        Some(m) => {
            params.set("metric_size", m);
            format!(" M{} (ISO 4032)", fmt(m))
        }
        None => String::new(),
    };
    Ok(Design::new(
        "hex_nut",
        format!(
            "Hex nut{standard_name}, {} mm across flats, {} mm high, plain bore {} mm (no thread)",
            fmt(across_flats),
            fmt(height),
            fmt(inner)
        ),
        params,
        Part {
            body: Body::HexPrism {
                across_flats,
                height,
            },
            cuts: vec![Cut::Hole {
                axis: Axis::Z,
                centre: [0.0, 0.0],
                radius: inner / 2.0,
                from: 0.0,
                to: height,
                through: true,
            }],
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_cover_m3_to_m24_in_order() {
        for table in [
            ISO_4032_NUTS.iter().map(|r| r.0).collect::<Vec<_>>(),
            ISO_7089_WASHERS.iter().map(|r| r.0).collect(),
            ISO_273_MEDIUM.iter().map(|r| r.0).collect(),
            ISO_4017_HEADS.iter().map(|r| r.0).collect(),
        ] {
            assert_eq!(
                table,
                [3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0]
            );
        }
        // A washer's hole clears its bolt; a nut's flats are wider than its bolt.
        for &(m, d1, d2, _) in ISO_7089_WASHERS {
            assert!(m < d1 && d1 < d2, "M{m}");
        }
        for &(m, s, _) in ISO_4032_NUTS.iter().chain(ISO_4017_HEADS) {
            assert!(m < s, "M{m}");
        }
        // A countersink or counterbore opens wider than the clearance hole of its size.
        for &(m, dk) in ISO_10642_HEADS {
            assert!(clearance_hole(m).is_some_and(|d| d < dk), "M{m}");
        }
        for &(m, d, depth) in COUNTERBORES {
            assert!(
                clearance_hole(m).is_some_and(|h| h < d) && depth > m,
                "M{m}"
            );
        }
    }
}
