//! Spur gear: an involute tooth profile from a module (or a diametral pitch, a pitch or an
//! outside diameter), a number of teeth and a pressure angle, extruded to the face width,
//! with an optional bore.
//!
//! The profile is a polygon: each flank samples the involute of the base circle, the tips
//! and roots sample their circles. FreeCAD extrudes exactly that polygon, so the plan's
//! volume (the polygon's area times the face width, minus the bore) is the solid's.

use std::f64::consts::PI;

use super::geometry::{Axis, Body, Cut, MIN_WALL_MM, Part, polygon_area};
use super::{Design, Params, ambiguous, hole_diameter, no_edge_finish, required, take_first};
use crate::offline_planner::parse::{Qualifier, Quantity as Q, Reading};
use crate::offline_planner::{PlanError, fmt};
use shared::error_code::ErrorCode;

/// The usual pressure angle, when none is given.
const DEFAULT_PRESSURE_ANGLE_DEG: f64 = 20.0;
/// Tooth depth above and below the pitch circle, in modules (ISO 53 basic rack).
const ADDENDUM: f64 = 1.0;
const DEDENDUM: f64 = 1.25;
/// Points along each flank, and inside each tip and root arc.
const FLANK_POINTS: usize = 12;
const TIP_POINTS: usize = 5;
const ROOT_POINTS: usize = 7;
/// Fewer teeth than this undercut badly with a plain involute; more is not a gear we make.
const MIN_TEETH: f64 = 6.0;
const MAX_TEETH: f64 = 400.0;

/// What a spur gear is made from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GearShape {
    pub module: f64,
    pub teeth: u32,
    pub pressure_angle_deg: f64,
}

fn involute(angle: f64) -> f64 {
    angle.tan() - angle
}

impl GearShape {
    fn pitch_radius(self) -> f64 {
        self.module * f64::from(self.teeth) / 2.0
    }

    fn base_radius(self) -> f64 {
        self.pitch_radius() * self.pressure_angle_deg.to_radians().cos()
    }

    fn tip_radius(self) -> f64 {
        self.pitch_radius() + ADDENDUM * self.module
    }

    pub fn root_radius(self) -> f64 {
        self.pitch_radius() - DEDENDUM * self.module
    }

    /// Half the angle a tooth spans at radius `rho` (at least the base radius): half a
    /// circular pitch of tooth at the pitch circle, narrowing along the involute.
    fn half_tooth_angle(self, rho: f64) -> f64 {
        let at_pitch = involute(self.pressure_angle_deg.to_radians());
        let here = involute((self.base_radius() / rho).min(1.0).acos());
        PI / (2.0 * f64::from(self.teeth)) + at_pitch - here
    }

    /// Why the profile cannot be drawn: pointed teeth, or roots that run into each other.
    fn problem(self) -> Option<String> {
        if self.half_tooth_angle(self.tip_radius()) <= 0.0 {
            return Some("its teeth come to a point below the tip circle".to_owned());
        }
        let start = self.base_radius().max(self.root_radius());
        if 2.0 * self.half_tooth_angle(start) >= 2.0 * PI / f64::from(self.teeth) {
            return Some("its teeth overlap at the root".to_owned());
        }
        if self.root_radius() <= 0.0 {
            return Some("its root circle has no room".to_owned());
        }
        None
    }

    /// The closed outline, counter-clockwise, the first tooth centred on the x axis.
    pub fn outline(self) -> Vec<[f64; 2]> {
        // One tooth and the root after it, centred on the x axis; every other tooth is the
        // same points turned by a multiple of the angular pitch.
        let tooth = self.one_tooth();
        let pitch_angle = 2.0 * PI / f64::from(self.teeth);
        let mut points = Vec::with_capacity(tooth.len() * self.teeth as usize);
        for n in 0..self.teeth {
            let (sin, cos) = (pitch_angle * f64::from(n)).sin_cos();
            points.extend(
                tooth
                    .iter()
                    .map(|&[x, y]| [x * cos - y * sin, x * sin + y * cos]),
            );
        }
        points
    }

    /// The first tooth (centred on the x axis) and the root arc after it, counter-clockwise.
    fn one_tooth(self) -> Vec<[f64; 2]> {
        let (rb, ra, rf) = (self.base_radius(), self.tip_radius(), self.root_radius());
        let start = rb.max(rf);
        let pitch_angle = 2.0 * PI / f64::from(self.teeth);
        let at = |rho: f64, angle: f64| {
            let (sin, cos) = angle.sin_cos();
            [rho * cos, rho * sin]
        };
        // Flank radii from the start of the involute to the tip, denser near the base where
        // the involute bends most; with the half-angle of the tooth at each.
        let flank: Vec<(f64, f64)> = (0..FLANK_POINTS)
            .map(|k| {
                let t = k as f64 / (FLANK_POINTS - 1) as f64;
                let rho = start + (ra - start) * t * t;
                (rho, self.half_tooth_angle(rho))
            })
            .collect();
        let mut points = Vec::with_capacity(2 * FLANK_POINTS + TIP_POINTS + ROOT_POINTS + 2);
        // The flank leaving the root (radially below the base circle, if the root is).
        let at_base = self.half_tooth_angle(rb);
        if rf < rb {
            points.push(at(rf, -at_base));
        }
        points.extend(flank.iter().map(|&(rho, half)| at(rho, -half)));
        let tip = self.half_tooth_angle(ra);
        points.extend((1..=TIP_POINTS).map(|k| {
            let t = k as f64 / (TIP_POINTS + 1) as f64;
            at(ra, -tip + 2.0 * tip * t)
        }));
        points.extend(flank.iter().rev().map(|&(rho, half)| at(rho, half)));
        if rf < rb {
            points.push(at(rf, at_base));
        }
        let from = self.half_tooth_angle(start);
        let to = pitch_angle - from;
        points.extend((1..=ROOT_POINTS).map(|k| {
            let t = k as f64 / (ROOT_POINTS + 1) as f64;
            at(rf, from + (to - from) * t)
        }));
        points
    }
}

/// The module from whatever the prompt gives: a module, a diametral pitch, or a pitch or
/// outside diameter with the number of teeth.
fn module_of(reading: &mut Reading, teeth: Option<f64>) -> Result<Option<f64>, PlanError> {
    let module = match take_first(reading, &[Q::Module])? {
        Some(m) => Some(m),
        // "an M2 gear": the M of a gear is its module.
        None => reading.take_metric(None)?,
    };
    let pitch = reading.take(Q::DiametralPitch)?.map(|p| 25.4 / p);
    let pitch_diameter = reading.take(Q::PitchCircleDiameter)?;
    let outside = match reading.take_diameter(Q::OuterDiameter, Q::OuterRadius)? {
        Some(d) => Some(d),
        None => reading.take_diameter(Q::Diameter, Q::Radius)?,
    };
    let from_diameters = match (teeth, pitch_diameter, outside) {
        (Some(z), Some(d), _) => Some(d / z),
        (Some(z), None, Some(d)) => Some(d / (z + 2.0 * ADDENDUM)),
        (None, Some(_), _) | (None, None, Some(_)) => {
            return Err(ambiguous(
                reading,
                "a gear from its diameter also needs its number of teeth, e.g. \"20 teeth\"",
            ));
        }
        _ => None,
    };
    let given: Vec<f64> = [module, pitch, from_diameters]
        .into_iter()
        .flatten()
        .collect();
    if given
        .windows(2)
        .any(|w| (w[0] - w[1]).abs() > 1e-6 * w[0].max(1.0))
    {
        return Err(ambiguous(
            reading,
            "its module, pitch and diameters do not agree; give one of them",
        ));
    }
    Ok(given.first().copied())
}

pub(super) fn spur_gear(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "gear")?;
    // "a 6 mm face": a gear's face is its width.
    reading.honour_anywhere(&[Qualifier::Face]);
    let teeth = reading.take(Q::Teeth)?;
    let diametral_pitch = reading.has_value(Q::DiametralPitch);
    let module = module_of(reading, teeth)?;
    let pressure_angle =
        take_first(reading, &[Q::PressureAngle, Q::Angle])?.unwrap_or(DEFAULT_PRESSURE_ANGLE_DEG);
    let face = take_first(reading, &[Q::Width, Q::Thickness, Q::Height, Q::Length])?;
    let bore = match reading.take_diameter(Q::InnerDiameter, Q::InnerRadius)? {
        Some(d) => Some(d),
        None => hole_diameter(reading)?,
    };
    let teeth = required(
        reading,
        teeth,
        "a gear needs its number of teeth, e.g. \"a spur gear, module 2, 20 teeth, 10 mm wide\"",
    )?;
    let module = required(
        reading,
        module,
        "a gear needs its module (\"module 2\") or diametral pitch (\"12 DP\")",
    )?;
    let face = match face {
        Some(face) => face,
        None => reading.take_bare(None).ok_or_else(|| {
            ambiguous(
                reading,
                "a gear needs its face width, e.g. \"10 mm wide\" or \"10 mm thick\"",
            )
        })?,
    };
    if !(teeth.fract() == 0.0 && (MIN_TEETH..=MAX_TEETH).contains(&teeth)) {
        return Err(ambiguous(
            reading,
            &format!(
                "{} teeth is not a gear it can make ({} to {})",
                fmt(teeth),
                fmt(MIN_TEETH),
                fmt(MAX_TEETH)
            ),
        ));
    }
    let shape = GearShape {
        module,
        teeth: teeth as u32,
        pressure_angle_deg: pressure_angle,
    };
    if !(module.is_finite() && module > 0.0 && (5.0..=35.0).contains(&pressure_angle)) {
        return Err(invalid(&format!(
            "a gear of module {} with a {}° pressure angle cannot be made",
            fmt(module),
            fmt(pressure_angle)
        )));
    }
    if let Some(problem) = shape.problem() {
        return Err(invalid(&format!(
            "a gear of module {} with {} teeth cannot be made: {problem}",
            fmt(module),
            fmt(teeth)
        )));
    }
    let mut params = Params::default();
    params
        .set("module", module)
        .set("teeth", teeth)
        .set("pressure_angle", pressure_angle)
        .set("face_width", face);
    let outline = shape.outline();
    debug_assert!(polygon_area(&outline) > 0.0);
    let mut cuts = Vec::new();
    if let Some(d) = bore {
        params.set("bore_diameter", d);
        if d / 2.0 + MIN_WALL_MM > shape.root_radius() {
            return Err(invalid(&format!(
                "a {} mm bore does not fit inside the {} mm root circle",
                fmt(d),
                fmt(2.0 * shape.root_radius())
            )));
        }
        cuts.push(Cut::Hole {
            axis: Axis::Z,
            centre: [0.0, 0.0],
            radius: d / 2.0,
            from: 0.0,
            to: face,
            through: true,
        });
    }
    let summary = format!(
        "Spur gear, {} teeth, module {} mm{}, {}° pressure angle, pitch diameter {} mm, outside \
         diameter {} mm, {} mm face width{}",
        fmt(teeth),
        fmt(module),
        if diametral_pitch {
            format!(" ({} diametral pitch)", fmt(25.4 / module))
        } else {
            String::new()
        },
        fmt(pressure_angle),
        fmt(2.0 * shape.pitch_radius()),
        fmt(2.0 * shape.tip_radius()),
        fmt(face),
        bore.map_or(String::new(), |d| format!(", {} mm bore", fmt(d)))
    );
    Ok(Design::new(
        "spur_gear",
        summary,
        params,
        Part {
            body: Body::Prism {
                outline,
                height: face,
            },
            cuts,
        },
    ))
}

fn invalid(why: &str) -> PlanError {
    PlanError {
        code: ErrorCode::InvalidDimensions,
        message: format!("The offline planner cannot plan this gear: {why}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gear(module: f64, teeth: u32) -> GearShape {
        GearShape {
            module,
            teeth,
            pressure_angle_deg: 20.0,
        }
    }

    #[test]
    fn the_profile_spans_the_tip_circle_and_its_area_lies_between_root_and_tip() {
        for (module, teeth) in [(1.0, 12), (2.0, 20), (1.5, 47), (3.0, 8)] {
            let shape = gear(module, teeth);
            assert!(shape.problem().is_none(), "m{module} z{teeth}");
            let outline = shape.outline();
            let area = polygon_area(&outline);
            let (rf, ra) = (shape.root_radius(), shape.tip_radius());
            assert!(PI * rf * rf < area && area < PI * ra * ra, "{area}");
            // Teeth take about half the ring between root and tip.
            let ring = PI * (ra * ra - rf * rf);
            let teeth_share = (area - PI * rf * rf) / ring;
            assert!((0.35..0.6).contains(&teeth_share), "{teeth_share}");
            let furthest = outline.iter().map(|p| p[0].hypot(p[1])).fold(0.0, f64::max);
            assert!((furthest - ra).abs() < 1e-9, "{furthest}");
        }
    }

    #[test]
    fn a_large_pressure_angle_with_few_teeth_points_the_teeth() {
        let pointed = GearShape {
            module: 2.0,
            teeth: 6,
            pressure_angle_deg: 35.0,
        };
        assert!(pointed.problem().is_some());
    }
}
