//! Open-top enclosure / project box: outside length, width and height, a wall thickness and
//! a floor (as thick as the walls unless told), hollowed from the top; with an optional flat
//! lid (the outside length and width, a wall thick) printed beside it.

use super::geometry::{Body, Cut, EdgeFinish, Part};
use super::solids::cuboid_size;
use super::{Design, Params, ambiguous, no_edge_finish, no_holes, required};
use crate::offline_planner::parse::{Qualifier, Quantity as Q, Reading};
use crate::offline_planner::{PlanError, fmt};
use shared::error_code::ErrorCode;

/// How far the lid sits from the box, along x.
const LID_GAP_MM: f64 = 10.0;

pub(super) fn enclosure(reading: &mut Reading) -> Result<Design, PlanError> {
    no_edge_finish(reading, "enclosure")?;
    no_holes(reading, "enclosure")?;
    // Taken before the outside sizes, so that "2 mm walls" is never read as a height.
    let wall = reading.take(Q::Wall)?;
    let floor = reading.take(Q::Floor)?;
    let size = cuboid_size(reading, false)?;
    let wall = required(
        reading,
        wall,
        "an enclosure needs its wall thickness, e.g. \"with 2 mm walls\"",
    )?;
    let floor = floor.unwrap_or(wall);
    // "inside dimensions 100 x 60 x 30": the hollow's sizes; the walls and floor go outside.
    let inside = reading.has_qualifier(Qualifier::Inside);
    let size = if inside {
        reading.honour_anywhere(&[Qualifier::Inside]);
        [size[0] + 2.0 * wall, size[1] + 2.0 * wall, size[2] + floor]
    } else {
        size
    };
    let [length, width, height] = size;
    let inner = [length - 2.0 * wall, width - 2.0 * wall];
    if inner[0] <= 0.0 || inner[1] <= 0.0 || floor >= height {
        return Err(PlanError {
            code: ErrorCode::InvalidDimensions,
            message: format!(
                "An enclosure {} x {} x {} mm with {} mm walls and a {} mm floor cannot be made: \
                 the walls must leave room inside and the floor must be lower than the top.",
                fmt(length),
                fmt(width),
                fmt(height),
                fmt(wall),
                fmt(floor)
            ),
        });
    }
    if reading.lid && reading.has_value(Q::Thickness) {
        return Err(ambiguous(
            reading,
            "the lid is as thick as the walls; say the wall thickness only",
        ));
    }
    let mut params = Params::default();
    params
        .set("length", length)
        .set("width", width)
        .set("height", height)
        .set("wall_thickness", wall)
        .set("floor_thickness", floor);
    let shell = Body::Cuboid {
        length,
        width,
        height,
        edges: EdgeFinish::Sharp,
    };
    let body = if reading.lid {
        params.set("lid", 1.0);
        Body::Beside {
            first: Box::new(shell),
            second: Box::new(Body::Cuboid {
                length,
                width,
                height: wall,
                edges: EdgeFinish::Sharp,
            }),
            gap: LID_GAP_MM,
        }
    } else {
        shell
    };
    let summary = format!(
        "Open-top enclosure {} x {} x {} mm outside, {} mm walls, {} mm floor (inside {} x {} x \
         {} mm){}",
        fmt(length),
        fmt(width),
        fmt(height),
        fmt(wall),
        fmt(floor),
        fmt(inner[0]),
        fmt(inner[1]),
        fmt(height - floor),
        if reading.lid {
            format!(
                ", with a flat {} x {} x {} mm lid beside it",
                fmt(length),
                fmt(width),
                fmt(wall)
            )
        } else {
            String::new()
        }
    );
    Ok(Design::new(
        "enclosure",
        summary,
        params,
        Part {
            body,
            cuts: vec![Cut::Pocket {
                corner: [wall, wall],
                size: inner,
                from: floor,
                to: height,
            }],
        },
    ))
}
