//! The solids every catalogue part is made of: one body (box, cylinder, sphere, cone, torus,
//! hexagonal prism, L profile) with optional rounded or chamfered edges, minus round holes
//! and rectangular pockets. Each knows its exact volume and bounding box, checks that the
//! cuts fit, and writes itself as a FreeCAD script.
//!
//! The volume is exact because the fit check guarantees what the formula assumes: every cut
//! lies inside the body's full-thickness region (away from rounded or chamfered edges, with
//! at least [`MIN_WALL_MM`] of material around it) and no two cuts overlap.

use std::f64::consts::PI;
use std::fmt::Write as _;

use crate::offline_planner::{ExpectedGeometry, fmt};

/// The least material left between a cut and an edge or another cut.
pub const MIN_WALL_MM: f64 = 0.5;
/// No size of a part may exceed this (10 m).
pub const MAX_SIZE_MM: f64 = 10_000.0;
/// How far a cutting tool reaches past the faces it opens, so FreeCAD never sees
/// coincident faces in a boolean.
const TOOL_OVERSHOOT_MM: f64 = 1.0;
/// The tessellation that makes FreeCAD's bounding box tight: 1/1000 of the part's largest
/// extent keeps it within 0.1 % of the surface, well inside the validator's 0.5 % per axis.
const TESSELLATION_PER_EXTENT: f64 = 1e-3;
/// A thin part (an O-ring's height is its cross-section, not its diameter) is judged per axis
/// on its smallest extent too: the deflection is also at most 1/100 of that, and the plan
/// allows the measured box that much wider (`bbox_allowance_mm`), as the mesh widens it.
/// Finer than that, OCC's mesher takes minutes on a small torus.
const TESSELLATION_PER_SMALLEST_EXTENT: f64 = 1e-2;
/// The finest tessellation asked for.
const MIN_DEFLECTION_MM: f64 = 1e-3;

/// Which outer edges of a body a finish is applied to. On a cylinder `All` is both rims,
/// `Top` / `Bottom` one rim; `Vertical` and `TopAndBottom` are for boxes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edges {
    All,
    /// The edges around the top face (z = height).
    Top,
    /// The edges around the bottom face (z = 0).
    Bottom,
    /// The four edges parallel to z.
    Vertical,
    /// The eight edges around the top and the bottom face.
    TopAndBottom,
}

impl Edges {
    /// Words for summaries and parameter names: "top edge", "vertical edge", "top rim".
    pub fn describe(self, round: bool) -> &'static str {
        match (self, round) {
            (Self::All, false) => "edges",
            (Self::All, true) => "rims",
            (Self::Top, false) => "top edges",
            (Self::Top, true) => "top rim",
            (Self::Bottom, false) => "bottom edges",
            (Self::Bottom, true) => "bottom rim",
            (Self::Vertical, _) => "vertical edges",
            (Self::TopAndBottom, _) => "top and bottom edges",
        }
    }

    /// The prefix of the finish's parameter name; none for every edge.
    pub fn parameter_prefix(self, round: bool) -> &'static str {
        match (self, round) {
            (Self::All, _) => "",
            (Self::Top, false) => "top_edge_",
            (Self::Top, true) => "top_rim_",
            (Self::Bottom, false) => "bottom_edge_",
            (Self::Bottom, true) => "bottom_rim_",
            (Self::Vertical, _) => "vertical_edge_",
            (Self::TopAndBottom, _) => "top_and_bottom_edge_",
        }
    }
}

/// What is done to a body's outer edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EdgeFinish {
    Sharp,
    /// The chosen outer edges rounded with this radius.
    Fillet(f64, Edges),
    /// The chosen outer edges chamfered with this (equal) distance.
    Chamfer(f64, Edges),
}

impl EdgeFinish {
    /// How far the finish reaches in from each face.
    fn size(self) -> f64 {
        match self {
            Self::Sharp => 0.0,
            Self::Fillet(s, _) | Self::Chamfer(s, _) => s,
        }
    }

    pub fn edges(self) -> Option<Edges> {
        match self {
            Self::Sharp => None,
            Self::Fillet(_, e) | Self::Chamfer(_, e) => Some(e),
        }
    }

    pub fn describe(self, round: bool) -> String {
        match self {
            Self::Sharp => String::new(),
            Self::Fillet(r, e) => format!(", {} filleted R{} mm", e.describe(round), fmt(r)),
            Self::Chamfer(c, e) => format!(", {} chamfered {} mm", e.describe(round), fmt(c)),
        }
    }

    /// The area one finished edge takes off the body's cross-section, and the volume two
    /// finished edges meeting at a corner (with the third edge there sharp) take off twice.
    /// A fillet r leaves the square r x r minus a quarter disc: (1 - π/4)·r². At a mitred
    /// corner both removals overlap where, at depth v under the face, each is narrower than
    /// w(v) = r - sqrt(r² - (r - v)²): ∫₀ʳ w² dv = (5/3 - π/2)·r³. For a chamfer c the
    /// profile is a right triangle (c²/2) and the overlap ∫₀ᶜ (c - v)² dv = c³/3.
    fn profile_and_corner(self) -> (f64, f64) {
        match self {
            Self::Sharp => (0.0, 0.0),
            Self::Fillet(r, _) => ((1.0 - PI / 4.0) * r * r, (5.0 / 3.0 - PI / 2.0) * r.powi(3)),
            Self::Chamfer(c, _) => (c * c / 2.0, c.powi(3) / 3.0),
        }
    }
}

/// The solid a part starts from, sizes in mm.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// From the origin to (length, width, height).
    Cuboid {
        length: f64,
        width: f64,
        height: f64,
        edges: EdgeFinish,
    },
    /// Axis z, base on z = 0.
    Cylinder {
        radius: f64,
        height: f64,
        edges: EdgeFinish,
    },
    /// Centred on the origin.
    Sphere { radius: f64 },
    /// Axis z, base (radius `base_radius`) on z = 0; `top_radius` 0 is a full cone.
    Cone {
        base_radius: f64,
        top_radius: f64,
        height: f64,
    },
    /// Axis z, centred on the origin.
    Torus {
        major_radius: f64,
        minor_radius: f64,
    },
    /// A regular hexagon (two corners on the x axis) extruded from z = 0.
    HexPrism { across_flats: f64, height: f64 },
    /// An L profile: a leg along x (`leg_x` long) and a leg up z (`leg_z` high), both
    /// `thickness` thick, sharing the corner at the origin, `width` deep along y; with
    /// triangular gussets in the inside corner.
    Angle {
        leg_x: f64,
        leg_z: f64,
        width: f64,
        thickness: f64,
        gussets: Gussets,
    },
    /// Sections stacked up the z axis from z = 0, each centred on the axis: a bolt blank (hex
    /// head on a round shank), a stepped shaft, a wheel with its hub.
    Stack { segments: Vec<Segment> },
    /// A closed outline in the xy plane (counter-clockwise, not repeating its first point)
    /// extruded from z = 0 to `height`: a spur gear's involute profile. The volume is the
    /// outline's exact area times the height, as FreeCAD builds the same polygon.
    Prism { outline: Vec<[f64; 2]>, height: f64 },
    /// A body with a second, separate one beside it along x, `gap` away (an enclosure and
    /// its lid, printed together). Cuts apply to the first.
    Beside {
        first: Box<Body>,
        second: Box<Body>,
        gap: f64,
    },
}

/// Triangular ribs in the inside corner of an L profile: right triangles with both legs
/// `size` long (measured from the inside faces), `thickness` thick along y. One gusset sits
/// in the middle of the width; two sit flush with both ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gussets {
    pub count: u32,
    pub size: f64,
    pub thickness: f64,
}

impl Gussets {
    pub const NONE: Self = Self {
        count: 0,
        size: 0.0,
        thickness: 0.0,
    };

    /// Where each gusset starts along y, for a profile `width` deep.
    fn starts(self, width: f64) -> Vec<f64> {
        match self.count {
            0 => vec![],
            1 => vec![(width - self.thickness) / 2.0],
            _ => vec![0.0, width - self.thickness],
        }
    }

    fn volume(self) -> f64 {
        f64::from(self.count) * self.size * self.size / 2.0 * self.thickness
    }
}

/// The cross-section of a stacked segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Section {
    Round {
        radius: f64,
    },
    /// A regular hexagon with two corners on the x axis.
    Hex {
        across_flats: f64,
    },
}

impl Section {
    fn area(self) -> f64 {
        match self {
            Self::Round { radius } => PI * radius * radius,
            Self::Hex { across_flats } => 3f64.sqrt() / 2.0 * across_flats * across_flats,
        }
    }

    /// [x, y] extents.
    fn extents(self) -> [f64; 2] {
        match self {
            Self::Round { radius } => [2.0 * radius; 2],
            Self::Hex { across_flats } => [2.0 * across_flats / 3f64.sqrt(), across_flats],
        }
    }

    /// The radius of the largest circle about the axis inside the section.
    fn inscribed_radius(self) -> f64 {
        match self {
            Self::Round { radius } => radius,
            Self::Hex { across_flats } => across_flats / 2.0,
        }
    }

    fn size(self) -> (&'static str, f64) {
        match self {
            Self::Round { radius } => ("diameter", 2.0 * radius),
            Self::Hex { across_flats } => ("width across flats", across_flats),
        }
    }
}

/// One section of a [`Body::Stack`], `height` tall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub section: Section,
    pub height: f64,
}

/// The head of a hole sunk for a screw, opening in the top face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Head {
    /// A flat-bottomed wider hole `depth` deep.
    Counterbore { radius: f64, depth: f64 },
    /// A 90° cone from `radius` at the top face down to the hole.
    Countersink { radius: f64 },
}

impl Head {
    /// The radius of the opening in the top face.
    pub fn radius(self) -> f64 {
        match self {
            Self::Counterbore { radius, .. } | Self::Countersink { radius } => radius,
        }
    }

    /// How deep the head reaches below the top face, for a hole of `hole_radius`.
    pub fn depth(self, hole_radius: f64) -> f64 {
        match self {
            Self::Counterbore { depth, .. } => depth,
            // 90° included: the cone loses one unit of radius per unit of depth.
            Self::Countersink { radius } => radius - hole_radius,
        }
    }
}

/// The direction a hole runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Holes through the upright leg of an L profile, or along a box's length; `centre` is
    /// (y, z).
    X,
    /// Holes through a box from front to back; `centre` is (x, z).
    Y,
    /// `centre` is (x, y).
    Z,
}

/// Material taken away from the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Cut {
    /// A round hole along `axis`, removing material from `from` to `to` along it. A through
    /// hole opens both ends; a blind one opens only the `to` end (the top face).
    Hole {
        axis: Axis,
        centre: [f64; 2],
        radius: f64,
        from: f64,
        to: f64,
        through: bool,
    },
    /// A rectangular pocket sunk from the top face (z = `to`) down to z = `from`.
    Pocket {
        corner: [f64; 2],
        size: [f64; 2],
        from: f64,
        to: f64,
    },
    /// A vertical through-hole from z = 0 to `to` (the top face) whose top is counterbored
    /// or countersunk.
    SunkHole {
        centre: [f64; 2],
        radius: f64,
        head: Head,
        to: f64,
    },
    /// An obround slot through z = 0 to `to`, running along x: two half discs of `radius`
    /// whose centres are `length` apart, joined by a rectangle.
    Slot {
        centre: [f64; 2],
        length: f64,
        radius: f64,
        to: f64,
        /// `X` or `Y`: the direction the slot runs in.
        along: Axis,
    },
}

impl Cut {
    fn volume(&self) -> f64 {
        match *self {
            Cut::Hole {
                radius, from, to, ..
            } => PI * radius * radius * (to - from),
            Cut::Pocket { size, from, to, .. } => size[0] * size[1] * (to - from),
            Cut::SunkHole {
                radius, head, to, ..
            } => {
                let depth = head.depth(radius);
                let head_volume = match head {
                    Head::Counterbore { radius: big, .. } => PI * big * big * depth,
                    // A frustum from the head's radius down to the hole's.
                    Head::Countersink { radius: big } => {
                        PI * depth / 3.0 * (big * big + big * radius + radius * radius)
                    }
                };
                PI * radius * radius * (to - depth) + head_volume
            }
            Cut::Slot {
                length, radius, to, ..
            } => (2.0 * radius * length + PI * radius * radius) * to,
        }
    }

    /// The volume the cut takes from `body`: a hole across a cylinder's axis (a cross hole)
    /// takes less than its straight length, see [`cross_hole_volume`]; every other cut takes
    /// its own volume.
    fn volume_from(&self, body: &Body) -> f64 {
        match (body, self) {
            (
                Body::Cylinder {
                    radius: body_radius,
                    ..
                },
                Cut::Hole {
                    axis: Axis::X | Axis::Y,
                    radius,
                    ..
                },
            ) => cross_hole_volume(*body_radius, *radius),
            _ => self.volume(),
        }
    }

    /// The rectangle [x0, x1] x [y0, y1] a vertical cut occupies in plan, if it is one.
    fn footprint(&self) -> Option<([f64; 2], [f64; 2])> {
        let square = |c: [f64; 2], r: f64| Some(([c[0] - r, c[0] + r], [c[1] - r, c[1] + r]));
        match *self {
            Cut::Hole {
                axis: Axis::Z,
                centre,
                radius,
                ..
            } => square(centre, radius),
            Cut::SunkHole { centre, head, .. } => square(centre, head.radius()),
            Cut::Slot {
                centre,
                length,
                radius,
                along,
                ..
            } => {
                let half = [length / 2.0 + radius, radius];
                let [hx, hy] = if along == Axis::Y {
                    [half[1], half[0]]
                } else {
                    half
                };
                Some((
                    [centre[0] - hx, centre[0] + hx],
                    [centre[1] - hy, centre[1] + hy],
                ))
            }
            _ => None,
        }
    }

    /// A vertical round cut's centre and widest radius.
    fn circle(&self) -> Option<([f64; 2], f64)> {
        match *self {
            Cut::Hole {
                axis: Axis::Z,
                centre,
                radius,
                ..
            } => Some((centre, radius)),
            Cut::SunkHole { centre, head, .. } => Some((centre, head.radius())),
            _ => None,
        }
    }
}

/// A part: a body minus its cuts.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub body: Body,
    pub cuts: Vec<Cut>,
}

impl Part {
    pub fn solid(body: Body) -> Self {
        Self {
            body,
            cuts: Vec::new(),
        }
    }

    /// What FreeCAD must measure: the body's box, its volume minus the cuts', one solid.
    pub fn expected(&self) -> ExpectedGeometry {
        let removed: f64 = self.cuts.iter().map(|c| c.volume_from(&self.body)).sum();
        let volume = self.body.volume() - removed;
        ExpectedGeometry {
            bbox: Some(self.body.bbox()),
            volume: Some(volume),
            solids: Some(self.body.solids()),
            // The mesh widens the measured box by up to the deflection on each side.
            bbox_allowance_mm: self.deflection().map(|d| 2.0 * d),
        }
    }

    /// The mesh deflection the script tessellates with, for bodies with toroidal faces.
    fn deflection(&self) -> Option<f64> {
        self.body.has_toroidal_faces().then(|| {
            let extents = self.body.bbox();
            let largest = extents.into_iter().fold(0.0, f64::max);
            let smallest = extents.into_iter().fold(f64::INFINITY, f64::min);
            (largest * TESSELLATION_PER_EXTENT)
                .min(smallest * TESSELLATION_PER_SMALLEST_EXTENT)
                .max(MIN_DEFLECTION_MM)
        })
    }

    /// Whether the part can be made, and its volume formula holds: positive sizes within
    /// limits, a body that is a proper solid, and cuts that fit and do not overlap.
    pub fn check(&self) -> Result<(), String> {
        self.body.check()?;
        for (n, cut) in self.cuts.iter().enumerate() {
            if !self.body.holds(cut) {
                return Err(format!(
                    "{} does not fit inside the part with {} mm of material around it",
                    describe_cut(cut, n, self.cuts.len()),
                    fmt(MIN_WALL_MM)
                ));
            }
        }
        for (i, a) in self.cuts.iter().enumerate() {
            for (j, b) in self.cuts.iter().enumerate().skip(i + 1) {
                if !apart(a, b) {
                    return Err(format!(
                        "{} and {} overlap or are closer than {} mm",
                        describe_cut(a, i, self.cuts.len()),
                        describe_cut(b, j, self.cuts.len()),
                        fmt(MIN_WALL_MM)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The FreeCAD script: builds the shape and leaves it as the document's only object.
    pub fn script(&self) -> String {
        let mut script = String::from("import FreeCAD as App\nimport Part\n\n");
        script.push_str("doc = App.ActiveDocument\n");
        script.push_str(&self.body.script());
        for cut in &self.cuts {
            let _ = writeln!(script, "shape = shape.cut({})", cut.tool_script());
        }
        // FreeCAD's `BoundBox` of a toroidal face (a torus, a filleted rim) is up to 8 % too
        // big: it bounds control points, not the surface. Once a shape is tessellated, it
        // bounds the triangles instead, which lie within the deflection of the surface.
        if let Some(deflection) = self.deflection() {
            let _ = writeln!(script, "shape.tessellate({deflection:?})");
        }
        script.push_str("doc.addObject(\"Part::Feature\", \"Part\").Shape = shape\n");
        script.push_str("doc.recompute()\n");
        script
    }
}

fn describe_cut(cut: &Cut, index: usize, count: usize) -> String {
    let which = if count > 1 {
        format!(" {} of {count}", index + 1)
    } else {
        String::new()
    };
    match cut {
        Cut::Hole { radius, centre, .. } => format!(
            "hole{which} (Ø{} mm at {}, {})",
            fmt(2.0 * radius),
            fmt(centre[0]),
            fmt(centre[1])
        ),
        Cut::Pocket { size, .. } => {
            format!("the {} x {} mm pocket", fmt(size[0]), fmt(size[1]))
        }
        Cut::SunkHole {
            centre,
            radius,
            head,
            ..
        } => format!(
            "hole{which} (Ø{} mm with a Ø{} mm head at {}, {})",
            fmt(2.0 * radius),
            fmt(2.0 * head.radius()),
            fmt(centre[0]),
            fmt(centre[1])
        ),
        Cut::Slot {
            centre,
            length,
            radius,
            ..
        } => format!(
            "slot{which} ({} x {} mm at {}, {})",
            fmt(length + 2.0 * radius),
            fmt(2.0 * radius),
            fmt(centre[0]),
            fmt(centre[1])
        ),
    }
}

/// Whether two cuts keep at least the minimum wall between them.
fn apart(a: &Cut, b: &Cut) -> bool {
    if let (Some((ca, ra)), Some((cb, rb))) = (a.circle(), b.circle()) {
        return (ca[0] - cb[0]).hypot(ca[1] - cb[1]) >= ra + rb + MIN_WALL_MM;
    }
    match (a, b) {
        // Holes across different axes only exist in different legs of an L profile, whose
        // regions `Body::holds` keeps apart.
        (
            Cut::Hole {
                axis: axis_a,
                centre: ca,
                radius: ra,
                ..
            },
            Cut::Hole {
                axis: axis_b,
                centre: cb,
                radius: rb,
                ..
            },
        ) => axis_a != axis_b || (ca[0] - cb[0]).hypot(ca[1] - cb[1]) >= ra + rb + MIN_WALL_MM,
        // A part has at most one pocket, and never a pocket and another cut.
        (Cut::Pocket { .. }, _) | (_, Cut::Pocket { .. }) => false,
        // Slots and holes: their plan rectangles kept apart (a slot is no wider than them).
        _ => match (a.footprint(), b.footprint()) {
            (Some((ax, ay)), Some((bx, by))) => {
                ax[1] + MIN_WALL_MM <= bx[0]
                    || bx[1] + MIN_WALL_MM <= ax[0]
                    || ay[1] + MIN_WALL_MM <= by[0]
                    || by[1] + MIN_WALL_MM <= ay[0]
            }
            _ => false,
        },
    }
}

/// A rectangle [x0, x1] x [y0, y1] in a cut's plane.
struct Region {
    x: [f64; 2],
    y: [f64; 2],
}

impl Region {
    fn inset(x: [f64; 2], y: [f64; 2], by: f64) -> Self {
        Self {
            x: [x[0] + by, x[1] - by],
            y: [y[0] + by, y[1] - by],
        }
    }

    fn holds_circle(&self, centre: [f64; 2], radius: f64) -> bool {
        centre[0] - radius >= self.x[0] - 1e-9
            && centre[0] + radius <= self.x[1] + 1e-9
            && centre[1] - radius >= self.y[0] - 1e-9
            && centre[1] + radius <= self.y[1] + 1e-9
    }

    fn holds_rectangle(&self, corner: [f64; 2], size: [f64; 2]) -> bool {
        corner[0] >= self.x[0] - 1e-9
            && corner[0] + size[0] <= self.x[1] + 1e-9
            && corner[1] >= self.y[0] - 1e-9
            && corner[1] + size[1] <= self.y[1] + 1e-9
    }
}

/// A cut's span along its axis is right: a through cut spans the body exactly, a blind one
/// opens at the top and leaves a floor.
fn spans(from: f64, to: f64, through: bool, bottom: f64, top: f64) -> bool {
    let at = |a: f64, b: f64| (a - b).abs() <= 1e-9 * top.abs().max(1.0);
    at(to, top)
        && if through {
            at(from, bottom)
        } else {
            from >= bottom + MIN_WALL_MM
        }
}

impl Body {
    pub fn volume(&self) -> f64 {
        match *self {
            Body::Cuboid {
                length,
                width,
                height,
                edges,
            } => cuboid_volume(length, width, height, edges),
            Body::Cylinder {
                radius,
                height,
                edges,
            } => cylinder_volume(radius, height, edges),
            Body::Sphere { radius } => 4.0 / 3.0 * PI * radius.powi(3),
            Body::Cone {
                base_radius: r1,
                top_radius: r2,
                height,
            } => PI * height / 3.0 * (r1 * r1 + r1 * r2 + r2 * r2),
            Body::Torus {
                major_radius,
                minor_radius,
            } => 2.0 * PI * PI * major_radius * minor_radius * minor_radius,
            Body::HexPrism {
                across_flats,
                height,
            } => 3f64.sqrt() / 2.0 * across_flats * across_flats * height,
            Body::Angle {
                leg_x,
                leg_z,
                width,
                thickness,
                gussets,
            } => thickness * width * (leg_x + leg_z - thickness) + gussets.volume(),
            Body::Stack { ref segments } => {
                segments.iter().map(|s| s.section.area() * s.height).sum()
            }
            Body::Prism {
                ref outline,
                height,
            } => polygon_area(outline) * height,
            Body::Beside {
                ref first,
                ref second,
                ..
            } => first.volume() + second.volume(),
        }
    }

    /// How many separate solids the body is.
    pub fn solids(&self) -> u32 {
        match self {
            Body::Beside { first, second, .. } => first.solids() + second.solids(),
            _ => 1,
        }
    }

    /// A torus, or a cylinder with rounded rims: the faces whose `BoundBox` FreeCAD overstates.
    fn has_toroidal_faces(&self) -> bool {
        matches!(
            self,
            Body::Torus { .. }
                | Body::Cylinder {
                    edges: EdgeFinish::Fillet(..),
                    ..
                }
        )
    }

    /// [x, y, z] extents.
    pub fn bbox(&self) -> [f64; 3] {
        match *self {
            Body::Cuboid {
                length,
                width,
                height,
                ..
            } => [length, width, height],
            Body::Cylinder { radius, height, .. } => [2.0 * radius, 2.0 * radius, height],
            Body::Sphere { radius } => [2.0 * radius; 3],
            Body::Cone {
                base_radius,
                top_radius,
                height,
            } => {
                let d = 2.0 * base_radius.max(top_radius);
                [d, d, height]
            }
            Body::Torus {
                major_radius,
                minor_radius,
            } => {
                let d = 2.0 * (major_radius + minor_radius);
                [d, d, 2.0 * minor_radius]
            }
            Body::HexPrism {
                across_flats,
                height,
            } => [2.0 * across_flats / 3f64.sqrt(), across_flats, height],
            Body::Angle {
                leg_x,
                leg_z,
                width,
                ..
            } => [leg_x, width, leg_z],
            Body::Stack { ref segments } => {
                let [x, y] = segments.iter().fold([0.0, 0.0], |[x, y], s| {
                    let [sx, sy] = s.section.extents();
                    [f64::max(x, sx), f64::max(y, sy)]
                });
                [x, y, segments.iter().map(|s| s.height).sum()]
            }
            Body::Prism {
                ref outline,
                height,
            } => {
                let span = |k: usize| {
                    let (lo, hi) = outline
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                            (lo.min(p[k]), hi.max(p[k]))
                        });
                    hi - lo
                };
                [span(0), span(1), height]
            }
            Body::Beside {
                ref first,
                ref second,
                gap,
            } => {
                let (a, b) = (first.bbox(), second.bbox());
                [a[0] + gap + b[0], a[1].max(b[1]), a[2].max(b[2])]
            }
        }
    }

    fn sizes(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Body::Cuboid {
                length,
                width,
                height,
                ..
            } => vec![("length", length), ("width", width), ("height", height)],
            Body::Cylinder { radius, height, .. } => {
                vec![("diameter", 2.0 * radius), ("height", height)]
            }
            Body::Sphere { radius } => vec![("diameter", 2.0 * radius)],
            Body::Cone {
                base_radius,
                height,
                ..
            } => vec![("base diameter", 2.0 * base_radius), ("height", height)],
            Body::Torus {
                major_radius,
                minor_radius,
            } => vec![
                ("major radius", major_radius),
                ("minor radius", minor_radius),
            ],
            Body::HexPrism {
                across_flats,
                height,
            } => vec![("width across flats", across_flats), ("height", height)],
            Body::Angle {
                leg_x,
                leg_z,
                width,
                thickness,
                gussets,
            } => {
                let mut sizes = vec![
                    ("first leg", leg_x),
                    ("second leg", leg_z),
                    ("width", width),
                    ("thickness", thickness),
                ];
                if gussets.count > 0 {
                    sizes.push(("gusset size", gussets.size));
                    sizes.push(("gusset thickness", gussets.thickness));
                }
                sizes
            }
            Body::Stack { ref segments } => segments
                .iter()
                .flat_map(|s| [s.section.size(), ("section length", s.height)])
                .collect(),
            Body::Prism { height, .. } => {
                let [x, y, _] = self.bbox();
                vec![("width", x), ("depth", y), ("height", height)]
            }
            Body::Beside {
                ref first,
                ref second,
                gap,
            } => {
                let mut sizes = first.sizes();
                sizes.extend(second.sizes());
                sizes.push(("gap", gap));
                sizes
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        for (name, size) in self.sizes() {
            if !(size.is_finite() && size > 0.0) {
                return Err(format!("its {name} is {} mm, not above 0", fmt(size)));
            }
            if size > MAX_SIZE_MM {
                return Err(format!(
                    "its {name} of {} mm is over the {} mm limit",
                    fmt(size),
                    fmt(MAX_SIZE_MM)
                ));
            }
        }
        match *self {
            Body::Cuboid {
                length,
                width,
                height,
                edges,
            } => {
                // Finished edges must not meet the finish of a parallel edge.
                let across = length.min(width) / 2.0;
                let (limit, of) = match edges.edges() {
                    None | Some(Edges::All | Edges::TopAndBottom) => {
                        (across.min(height / 2.0), "half the smallest side")
                    }
                    Some(Edges::Vertical) => (across, "half the length and the width"),
                    Some(Edges::Top | Edges::Bottom) => (
                        across.min(height),
                        "half the length and the width, and the height",
                    ),
                };
                check_finish(edges, limit, of)
            }
            Body::Cylinder {
                radius,
                height,
                edges,
            } => match edges.edges() {
                None | Some(Edges::All) => check_finish(
                    edges,
                    radius.min(height / 2.0),
                    "the radius and half the height",
                ),
                Some(Edges::Top | Edges::Bottom) => {
                    check_finish(edges, radius.min(height), "the radius and the height")
                }
                Some(Edges::Vertical | Edges::TopAndBottom) => {
                    Err("a cylinder has rims, not vertical or top and bottom edges".to_owned())
                }
            },
            Body::Cone {
                base_radius,
                top_radius,
                ..
            } => {
                if !(top_radius.is_finite() && top_radius >= 0.0) {
                    Err(format!("its top diameter is {} mm", fmt(2.0 * top_radius)))
                } else if top_radius == base_radius {
                    Err("its top and base diameters are equal, which is a cylinder".to_owned())
                } else {
                    Ok(())
                }
            }
            Body::Torus {
                major_radius,
                minor_radius,
            } if minor_radius >= major_radius => Err(format!(
                "its tube radius ({} mm) must be smaller than its major radius ({} mm)",
                fmt(minor_radius),
                fmt(major_radius)
            )),
            Body::Angle {
                leg_x,
                leg_z,
                thickness,
                ..
            } if thickness >= leg_x.min(leg_z) => Err(format!(
                "its thickness ({} mm) must be smaller than each leg",
                fmt(thickness)
            )),
            Body::Angle {
                leg_x,
                leg_z,
                width,
                thickness,
                gussets,
            } if gussets.count > 0 => {
                let room = (leg_x.min(leg_z) - thickness).min(MAX_SIZE_MM);
                if gussets.size > room + 1e-9 {
                    Err(format!(
                        "its gussets ({} mm) must fit inside the shorter leg ({} mm beyond the \
                         other leg's thickness)",
                        fmt(gussets.size),
                        fmt(room)
                    ))
                } else if f64::from(gussets.count) * gussets.thickness > width - 1e-9 {
                    Err(format!(
                        "{} gussets {} mm thick do not fit in its {} mm width",
                        gussets.count,
                        fmt(gussets.thickness),
                        fmt(width)
                    ))
                } else {
                    Ok(())
                }
            }
            Body::Prism { ref outline, .. }
                if outline.len() < 3 || polygon_area(outline) <= 0.0 =>
            {
                Err("its outline is not a closed counter-clockwise polygon".to_owned())
            }
            Body::Beside {
                ref first,
                ref second,
                ..
            } => first.check().and_then(|()| second.check()),
            _ => Ok(()),
        }
    }

    /// Whether `cut` lies where the body is full thickness, with the minimum wall around it.
    fn holds(&self, cut: &Cut) -> bool {
        match (self, cut) {
            (
                Body::Cuboid {
                    length,
                    width,
                    height,
                    edges,
                },
                _,
            ) => {
                let region =
                    Region::inset([0.0, *length], [0.0, *width], edges.size() + MIN_WALL_MM);
                match *cut {
                    Cut::Hole {
                        axis: Axis::Z,
                        centre,
                        radius,
                        from,
                        to,
                        through,
                    } => {
                        region.holds_circle(centre, radius)
                            && spans(from, to, through, 0.0, *height)
                    }
                    Cut::Pocket {
                        corner,
                        size,
                        from,
                        to,
                    } => {
                        region.holds_rectangle(corner, size) && spans(from, to, false, 0.0, *height)
                    }
                    Cut::SunkHole {
                        centre,
                        radius,
                        head,
                        to,
                    } => {
                        region.holds_circle(centre, head.radius())
                            && head.radius() > radius
                            && head.depth(radius) + MIN_WALL_MM <= *height
                            && spans(0.0, to, true, 0.0, *height)
                    }
                    // Holes along the length or from front to back, through the whole box.
                    Cut::Hole {
                        axis: axis @ (Axis::X | Axis::Y),
                        centre,
                        radius,
                        from,
                        to,
                        through,
                    } => {
                        let (across, span) = if axis == Axis::X {
                            (*width, *length)
                        } else {
                            (*length, *width)
                        };
                        Region::inset([0.0, across], [0.0, *height], edges.size() + MIN_WALL_MM)
                            .holds_circle(centre, radius)
                            && through
                            && spans(from, to, true, 0.0, span)
                    }
                    Cut::Slot { to, .. } => {
                        cut.footprint().is_some_and(|(x, y)| {
                            region.holds_rectangle([x[0], y[0]], [x[1] - x[0], y[1] - y[0]])
                        }) && spans(0.0, to, true, 0.0, *height)
                    }
                }
            }
            (
                Body::Cylinder {
                    radius: body_radius,
                    height,
                    edges,
                },
                Cut::Hole {
                    axis: Axis::Z,
                    centre,
                    radius,
                    from,
                    to,
                    through,
                },
            ) => {
                centre[0].hypot(centre[1]) + radius <= body_radius - edges.size() - MIN_WALL_MM
                    && spans(*from, *to, *through, 0.0, *height)
            }
            // A cross hole: straight through the axis, clear of the finished rims and with
            // material left beside it, so its volume is `cross_hole_volume`.
            (
                Body::Cylinder {
                    radius: body_radius,
                    height,
                    edges,
                },
                Cut::Hole {
                    axis: Axis::X | Axis::Y,
                    centre: [across, z],
                    radius,
                    from,
                    to,
                    through,
                },
            ) => {
                let clearance = edges.size() + MIN_WALL_MM;
                across.abs() <= 1e-9
                    && radius + MIN_WALL_MM <= *body_radius
                    && z - radius >= clearance - 1e-9
                    && z + radius <= height - clearance + 1e-9
                    && *through
                    && spans(*from, *to, true, -body_radius, *body_radius)
            }
            (
                Body::HexPrism {
                    across_flats,
                    height,
                },
                Cut::Hole {
                    axis: Axis::Z,
                    centre,
                    radius,
                    from,
                    to,
                    through,
                },
            ) => {
                centre[0].hypot(centre[1]) + radius <= across_flats / 2.0 - MIN_WALL_MM
                    && spans(*from, *to, *through, 0.0, *height)
            }
            (
                Body::Angle {
                    leg_x,
                    leg_z,
                    width,
                    thickness,
                    gussets,
                },
                Cut::Hole {
                    axis,
                    centre,
                    radius,
                    from,
                    to,
                    through,
                },
            ) => {
                // Each hole goes through its own leg, clear of the other leg.
                let (along, across_end) = match axis {
                    Axis::Z => ([*thickness, *leg_x], *width),
                    Axis::X => ([0.0, *width], *leg_z),
                    Axis::Y => return false,
                };
                let region = match axis {
                    Axis::X => Region::inset(along, [*thickness, across_end], MIN_WALL_MM),
                    _ => Region::inset(along, [0.0, across_end], MIN_WALL_MM),
                };
                // Clear of the gussets too: the drill reaches past the leg's inner face.
                let (across, along_leg) = match axis {
                    Axis::X => (centre[0], centre[1]),
                    _ => (centre[1], centre[0]),
                };
                let clear_of_gussets = gussets.starts(*width).iter().all(|&y0| {
                    across + radius + MIN_WALL_MM <= y0
                        || across - radius - MIN_WALL_MM >= y0 + gussets.thickness
                        || along_leg - radius >= thickness + gussets.size + MIN_WALL_MM
                });
                region.holds_circle(*centre, *radius)
                    && spans(*from, *to, *through, 0.0, *thickness)
                    && clear_of_gussets
            }
            (
                Body::Stack { segments },
                Cut::Hole {
                    axis: Axis::Z,
                    centre,
                    radius,
                    from,
                    to,
                    through,
                },
            ) => {
                let narrowest = segments
                    .iter()
                    .map(|s| s.section.inscribed_radius())
                    .fold(f64::INFINITY, f64::min);
                let height: f64 = segments.iter().map(|s| s.height).sum();
                centre[0].hypot(centre[1]) + radius <= narrowest - MIN_WALL_MM
                    && spans(*from, *to, *through, 0.0, height)
            }
            (
                Body::Prism { outline, height },
                Cut::Hole {
                    axis: Axis::Z,
                    centre,
                    radius,
                    from,
                    to,
                    through,
                },
            ) => {
                distance_to_outline(outline, *centre) >= radius + MIN_WALL_MM
                    && spans(*from, *to, *through, 0.0, *height)
            }
            (Body::Beside { first, .. }, cut) => first.holds(cut),
            _ => false,
        }
    }

    fn script(&self) -> String {
        match *self {
            Body::Cuboid {
                length,
                width,
                height,
                edges,
            } => {
                let mut s = format!("shape = Part.makeBox({length:?}, {width:?}, {height:?})\n");
                match edges.edges() {
                    None => {}
                    Some(Edges::All) => s.push_str(&finish_script(edges, "shape.Edges")),
                    Some(which) => {
                        let _ = writeln!(s, "chosen = {}", box_edges_script(which, height));
                        s.push_str(&finish_script(edges, "chosen"));
                    }
                }
                s
            }
            Body::Cylinder {
                radius,
                height,
                edges,
            } => {
                let mut s = format!("shape = Part.makeCylinder({radius:?}, {height:?})\n");
                if let Some(which) = edges.edges() {
                    // Only the circular rims; the seam line is not an edge of the part.
                    let _ = writeln!(
                        s,
                        "rims = [e for e in shape.Edges if isinstance(e.Curve, Part.Circle) \
                         and {}]",
                        edge_filter(which, height)
                    );
                    s.push_str(&finish_script(edges, "rims"));
                }
                s
            }
            Body::Sphere { radius } => format!("shape = Part.makeSphere({radius:?})\n"),
            Body::Cone {
                base_radius,
                top_radius,
                height,
            } => format!("shape = Part.makeCone({base_radius:?}, {top_radius:?}, {height:?})\n"),
            Body::Torus {
                major_radius,
                minor_radius,
            } => format!("shape = Part.makeTorus({major_radius:?}, {minor_radius:?})\n"),
            Body::HexPrism {
                across_flats,
                height,
            } => format!(
                "hexagon = Part.Face(Part.makePolygon([{}]))\n\
                 shape = hexagon.extrude(App.Vector(0.0, 0.0, {height:?}))\n",
                hexagon_points(across_flats, 0.0)
            ),
            Body::Angle {
                leg_x,
                leg_z,
                width,
                thickness,
                gussets,
            } => {
                let mut s = format!(
                    "shape = Part.makeBox({leg_x:?}, {width:?}, {thickness:?}).fuse(\
                     Part.makeBox({thickness:?}, {width:?}, {leg_z:?}))\n"
                );
                let (t, g) = (thickness, gussets.size);
                for y0 in gussets.starts(width) {
                    let _ = writeln!(
                        s,
                        "gusset = Part.Face(Part.makePolygon([App.Vector({t:?}, {y0:?}, {t:?}), \
                         App.Vector({:?}, {y0:?}, {t:?}), App.Vector({t:?}, {y0:?}, {:?}), \
                         App.Vector({t:?}, {y0:?}, {t:?})])).extrude(App.Vector(0.0, {:?}, 0.0))\n\
                         shape = shape.fuse(gusset)",
                        t + g,
                        t + g,
                        gussets.thickness
                    );
                }
                s.push_str("shape = shape.removeSplitter()\n");
                s
            }
            Body::Stack { ref segments } => {
                let mut s = String::from("pieces = []\n");
                let mut z = 0.0;
                for segment in segments {
                    let piece = match segment.section {
                        Section::Round { radius } => format!(
                            "Part.makeCylinder({radius:?}, {:?}, App.Vector(0.0, 0.0, {z:?}))",
                            segment.height
                        ),
                        Section::Hex { across_flats } => format!(
                            "Part.Face(Part.makePolygon([{}])).extrude(App.Vector(0.0, 0.0, {:?}))",
                            hexagon_points(across_flats, z),
                            segment.height
                        ),
                    };
                    let _ = writeln!(s, "pieces.append({piece})");
                    z += segment.height;
                }
                s.push_str(
                    "shape = pieces[0]\nfor piece in pieces[1:]:\n    shape = shape.fuse(piece)\n\
                     shape = shape.removeSplitter()\n",
                );
                s
            }
            Body::Prism {
                ref outline,
                height,
            } => {
                // A gear has a thousand corners: plain (x, y) pairs keep the script short.
                let mut s = String::with_capacity(outline.len() * 44 + 200);
                s.push_str("corners = [");
                for p in outline.iter().chain(outline.first()) {
                    let _ = write!(s, "({:?}, {:?}), ", p[0], p[1]);
                }
                let _ = write!(
                    s,
                    "]\noutline = Part.Face(Part.makePolygon([App.Vector(x, y, 0.0) for x, y in \
                     corners]))\nshape = outline.extrude(App.Vector(0.0, 0.0, {height:?}))\n"
                );
                s
            }
            Body::Beside {
                ref first,
                ref second,
                gap,
            } => format!(
                "{}second = shape\nsecond.translate(App.Vector({:?}, 0.0, 0.0))\n\
                 {}shape = shape.fuse(second)\n",
                second.script(),
                first.bbox()[0] + gap,
                first.script()
            ),
        }
    }
}

/// The corners of a regular hexagon (two on the x axis) at height z, closed, as FreeCAD
/// vectors.
fn hexagon_points(across_flats: f64, z: f64) -> String {
    let corner = across_flats / 3f64.sqrt();
    let points: Vec<String> = (0..=6)
        .map(|k| {
            let angle = PI / 3.0 * f64::from(k % 6);
            format!(
                "App.Vector({:?}, {:?}, {z:?})",
                corner * angle.cos(),
                corner * angle.sin()
            )
        })
        .collect();
    points.join(", ")
}

/// The signed area of a polygon (shoelace); positive when counter-clockwise.
pub fn polygon_area(outline: &[[f64; 2]]) -> f64 {
    let n = outline.len();
    (0..n)
        .map(|i| {
            let (a, b) = (outline[i], outline[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        / 2.0
}

/// How far `point` is from the nearest side of a closed polygon.
fn distance_to_outline(outline: &[[f64; 2]], point: [f64; 2]) -> f64 {
    let n = outline.len();
    (0..n)
        .map(|i| {
            let (a, b) = (outline[i], outline[(i + 1) % n]);
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let along = ((point[0] - a[0]) * dx + (point[1] - a[1]) * dy) / (dx * dx + dy * dy);
            let t = if along.is_finite() {
                along.clamp(0.0, 1.0)
            } else {
                0.0
            };
            (a[0] + t * dx - point[0]).hypot(a[1] + t * dy - point[1])
        })
        .fold(f64::INFINITY, f64::min)
}

fn check_finish(edges: EdgeFinish, limit: f64, of: &str) -> Result<(), String> {
    let size = edges.size();
    if edges == EdgeFinish::Sharp {
        return Ok(());
    }
    if !(size.is_finite() && size > 0.0) {
        return Err(format!(
            "its edge finish of {} mm is not above 0",
            fmt(size)
        ));
    }
    if size >= limit {
        return Err(format!(
            "its edge finish of {} mm must be smaller than {} mm ({of})",
            fmt(size),
            fmt(limit)
        ));
    }
    Ok(())
}

fn finish_script(edges: EdgeFinish, which: &str) -> String {
    match edges {
        EdgeFinish::Sharp => String::new(),
        EdgeFinish::Fillet(r, _) => format!("shape = shape.makeFillet({r:?}, {which})\n"),
        EdgeFinish::Chamfer(c, _) => format!("shape = shape.makeChamfer({c:?}, {which})\n"),
    }
}

/// A Python condition on an edge `e` of a body standing on z = 0, `height` tall.
fn edge_filter(which: Edges, height: f64) -> String {
    let flat = "e.BoundBox.ZLength < 1e-6";
    match which {
        Edges::All => "True".to_owned(),
        Edges::Top => format!("e.BoundBox.ZMin > {:?}", height - 1e-6),
        Edges::Bottom => "e.BoundBox.ZMax < 1e-6".to_owned(),
        Edges::Vertical => "e.BoundBox.ZLength > 1e-6".to_owned(),
        Edges::TopAndBottom => flat.to_owned(),
    }
}

/// The list of a box's edges a finish goes on.
fn box_edges_script(which: Edges, height: f64) -> String {
    format!("[e for e in shape.Edges if {}]", edge_filter(which, height))
}

impl Cut {
    fn tool_script(&self) -> String {
        match *self {
            Cut::Hole {
                axis,
                centre,
                radius,
                from,
                to,
                through,
            } => {
                let start = if through {
                    from - TOOL_OVERSHOOT_MM
                } else {
                    from
                };
                let length = to + TOOL_OVERSHOOT_MM - start;
                let (origin, direction) = match axis {
                    Axis::Z => ([centre[0], centre[1], start], "0.0, 0.0, 1.0"),
                    Axis::X => ([start, centre[0], centre[1]], "1.0, 0.0, 0.0"),
                    Axis::Y => ([centre[0], start, centre[1]], "0.0, 1.0, 0.0"),
                };
                format!(
                    "Part.makeCylinder({radius:?}, {length:?}, App.Vector({:?}, {:?}, {:?}), \
                     App.Vector({direction}))",
                    origin[0], origin[1], origin[2]
                )
            }
            Cut::Pocket {
                corner,
                size,
                from,
                to,
            } => format!(
                "Part.makeBox({:?}, {:?}, {:?}, App.Vector({:?}, {:?}, {from:?}))",
                size[0],
                size[1],
                to + TOOL_OVERSHOOT_MM - from,
                corner[0],
                corner[1]
            ),
            Cut::SunkHole {
                centre: [x, y],
                radius,
                head,
                to,
            } => {
                let o = TOOL_OVERSHOOT_MM;
                let depth = head.depth(radius);
                let at = |z: f64| format!("App.Vector({x:?}, {y:?}, {z:?})");
                let shank = format!(
                    "Part.makeCylinder({radius:?}, {:?}, {})",
                    to + 2.0 * o,
                    at(-o)
                );
                let top = match head {
                    Head::Counterbore { radius: big, .. } => format!(
                        "Part.makeCylinder({big:?}, {:?}, {})",
                        depth + o,
                        at(to - depth)
                    ),
                    // The cone carried on past the top face keeps its 90° flank.
                    Head::Countersink { radius: big } => format!(
                        "Part.makeCone({radius:?}, {:?}, {:?}, {})",
                        big + o,
                        depth + o,
                        at(to - depth)
                    ),
                };
                format!("{shank}.fuse({top})")
            }
            Cut::Slot {
                centre: [x, y],
                length,
                radius,
                to,
                along,
            } => {
                let o = TOOL_OVERSHOOT_MM;
                let height = to + 2.0 * o;
                let (dx, dy) = if along == Axis::Y {
                    (0.0, length / 2.0)
                } else {
                    (length / 2.0, 0.0)
                };
                let (box_x, box_y) = if along == Axis::Y {
                    (2.0 * radius, length)
                } else {
                    (length, 2.0 * radius)
                };
                format!(
                    "Part.makeBox({box_x:?}, {box_y:?}, {height:?}, App.Vector({:?}, {:?}, {:?}))\
                     .fuse(Part.makeCylinder({radius:?}, {height:?}, App.Vector({:?}, {:?}, {:?})))\
                     .fuse(Part.makeCylinder({radius:?}, {height:?}, App.Vector({:?}, {:?}, {:?})))",
                    x - box_x / 2.0,
                    y - box_y / 2.0,
                    -o,
                    x - dx,
                    y - dy,
                    -o,
                    x + dx,
                    y + dy,
                    -o
                )
            }
        }
    }
}

/// Intervals of the composite Simpson rule for [`cross_hole_volume`]: its integrand is smooth
/// (R > r), so the error is far below FreeCAD's own precision.
const CROSS_HOLE_INTERVALS: usize = 2000;

/// The material a hole of radius r takes out of a cylinder of radius R when their axes cross
/// at right angles (r < R). Across the hole at y = r·sin t, the hole is 2·r·cos t tall and the
/// cylinder 2·sqrt(R² - y²) long, so with dy = r·cos t dt:
/// V = ∫ 2·sqrt(R² - y²) · 2·sqrt(r² - y²) dy = 4r² ∫_{-π/2}^{π/2} cos²t · sqrt(R² - r²·sin²t) dt,
/// integrated numerically (composite Simpson). For r ≪ R it tends to πr²·2R.
pub fn cross_hole_volume(body_radius: f64, hole_radius: f64) -> f64 {
    let integrand = |t: f64| {
        let s = hole_radius * t.sin();
        t.cos().powi(2) * (body_radius * body_radius - s * s).max(0.0).sqrt()
    };
    let n = CROSS_HOLE_INTERVALS;
    let (a, b) = (-PI / 2.0, PI / 2.0);
    let step = (b - a) / n as f64;
    let inner: f64 = (1..n)
        .map(|i| {
            let weight = if i % 2 == 1 { 4.0 } else { 2.0 };
            weight * integrand(a + i as f64 * step)
        })
        .sum();
    let integral = step / 3.0 * (integrand(a) + inner + integrand(b));
    4.0 * hole_radius * hole_radius * integral
}

/// A box with every edge rounded by r is the Minkowski sum of the inner box
/// (a, b, c) = (L-2r, W-2r, H-2r) and a ball of radius r:
/// V = abc + 2r(ab+bc+ca) + πr²(a+b+c) + 4/3·πr³.
/// Chamfering every edge by c gives the Minkowski sum with the octahedron |x|+|y|+|z| <= c
/// (its width is 2c, its shadow on a coordinate plane 2c², its volume 4/3·c³):
/// V = abc + 2c(ab+bc+ca) + 2c²(a+b+c) + 4/3·c³.
/// With only some edges finished, each takes its profile area p along its length, and where
/// two finished edges meet at a corner whose third edge stays sharp (the top face's corners)
/// the mitred removals overlap by k (see [`EdgeFinish::profile_and_corner`]):
/// vertical edges V = LWH - 4pH; one face's edges V = LWH - 2p(L+W) + 4k; both, twice that.
fn cuboid_volume(length: f64, width: f64, height: f64, edges: EdgeFinish) -> f64 {
    let full = length * width * height;
    let (profile, corner) = edges.profile_and_corner();
    let one_face = 2.0 * profile * (length + width) - 4.0 * corner;
    match edges.edges() {
        None => full,
        Some(Edges::Vertical) => full - 4.0 * profile * height,
        Some(Edges::Top | Edges::Bottom) => full - one_face,
        Some(Edges::TopAndBottom) => full - 2.0 * one_face,
        Some(Edges::All) => {
            let e = edges.size();
            let (a, b, c) = (length - 2.0 * e, width - 2.0 * e, height - 2.0 * e);
            let (shadow, ball) = match edges {
                EdgeFinish::Fillet(r, _) => (PI * r * r, 4.0 / 3.0 * PI * r.powi(3)),
                EdgeFinish::Chamfer(c, _) => (2.0 * c * c, 4.0 / 3.0 * c.powi(3)),
                EdgeFinish::Sharp => (0.0, 0.0),
            };
            a * b * c + 2.0 * e * (a * b + b * c + c * a) + shadow * (a + b + c) + ball
        }
    }
}

/// A cylinder with its rims rounded or chamfered, by Pappus: each rim removes a small
/// profile of area A whose centroid runs at distance x̄ from the axis, 2π·x̄·A of volume.
/// For a fillet r that profile is the square r x r minus a quarter disc; for a chamfer c,
/// the right triangle with legs c.
fn cylinder_volume(radius: f64, height: f64, edges: EdgeFinish) -> f64 {
    let rim_moment = match edges {
        EdgeFinish::Sharp => 0.0,
        EdgeFinish::Fillet(r, _) => {
            let square = r * r * (radius - r / 2.0);
            let quarter_disc = PI * r * r / 4.0 * (radius - r + 4.0 * r / (3.0 * PI));
            square - quarter_disc
        }
        EdgeFinish::Chamfer(c, _) => c * c / 2.0 * (radius - c / 3.0),
    };
    let rims = match edges.edges() {
        Some(Edges::Top | Edges::Bottom) => 1.0,
        _ => 2.0,
    };
    PI * radius * radius * height - rims * 2.0 * PI * rim_moment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_volumes_reduce_to_the_sharp_ones() {
        let sharp = cuboid_volume(100.0, 50.0, 30.0, EdgeFinish::Sharp);
        assert_eq!(sharp, 150_000.0);
        // Measured in FreeCAD 0.20 (makeFillet / makeChamfer on all 12 edges).
        let filleted = cuboid_volume(100.0, 50.0, 30.0, EdgeFinish::Fillet(4.0, Edges::All));
        assert!(
            (filleted - 147_613.497_836_466_5).abs() < 1e-6,
            "{filleted}"
        );
        let chamfered = cuboid_volume(100.0, 50.0, 30.0, EdgeFinish::Chamfer(4.0, Edges::All));
        assert!(
            (chamfered - 144_581.333_333_333_3).abs() < 1e-6,
            "{chamfered}"
        );
        let cylinder = cylinder_volume(20.0, 25.0, EdgeFinish::Fillet(3.0, Edges::All));
        assert!((cylinder - 30_946.772_637_503).abs() < 1e-6, "{cylinder}");
        let cylinder = cylinder_volume(20.0, 25.0, EdgeFinish::Chamfer(3.0, Edges::All));
        assert!((cylinder - 30_341.501_848_370).abs() < 1e-6, "{cylinder}");
    }

    #[test]
    fn some_edges_finished_match_freecad() {
        // Measured in FreeCAD 0.20: makeFillet / makeChamfer(4) on the chosen edges of a
        // 100 x 50 x 30 box, and (3) on the top rim of a cylinder R20 x 25.
        let cases = [
            (EdgeFinish::Fillet(4.0, Edges::Top), 148_994.453_991_290_5),
            (
                EdgeFinish::Fillet(4.0, Edges::Bottom),
                148_994.453_991_294_2,
            ),
            (
                EdgeFinish::Fillet(4.0, Edges::Vertical),
                149_587.964_473_723_1,
            ),
            (
                EdgeFinish::Fillet(4.0, Edges::TopAndBottom),
                147_988.907_982_587,
            ),
            (EdgeFinish::Chamfer(4.0, Edges::Top), 147_685.333_333_333_3),
            (EdgeFinish::Chamfer(4.0, Edges::Vertical), 149_040.0),
            (
                EdgeFinish::Chamfer(4.0, Edges::TopAndBottom),
                145_370.666_666_666_7,
            ),
        ];
        for (edges, measured) in cases {
            let volume = cuboid_volume(100.0, 50.0, 30.0, edges);
            assert!((volume - measured).abs() < 1e-6, "{edges:?}: {volume}");
        }
        let top_rim = cylinder_volume(20.0, 25.0, EdgeFinish::Fillet(3.0, Edges::Top));
        assert!((top_rim - 31_181.349_586_700_48).abs() < 1e-6, "{top_rim}");
        let top_rim = cylinder_volume(20.0, 25.0, EdgeFinish::Chamfer(3.0, Edges::Top));
        assert!((top_rim - 30_878.714_192_134_08).abs() < 1e-6, "{top_rim}");
    }

    #[test]
    fn a_hole_too_close_to_the_edge_does_not_fit() {
        let plate = |x: f64| Part {
            body: Body::Cuboid {
                length: 100.0,
                width: 50.0,
                height: 5.0,
                edges: EdgeFinish::Sharp,
            },
            cuts: vec![Cut::Hole {
                axis: Axis::Z,
                centre: [x, 25.0],
                radius: 3.0,
                from: 0.0,
                to: 5.0,
                through: true,
            }],
        };
        assert!(plate(50.0).check().is_ok());
        assert!(plate(3.4).check().is_err());
        assert!(plate(3.5).check().is_ok());
    }

    /// The cross-hole integral against the cases with a closed form: a hole as wide as the
    /// cylinder is Steinmetz's bicylinder (16/3·R³); a thin one is a straight hole 2R long
    /// (πr²·2R, less r⁴π/(4R) to the next order).
    #[test]
    fn cross_hole_volume_meets_the_closed_forms() {
        let steinmetz = cross_hole_volume(10.0, 10.0);
        assert!(
            (steinmetz / (16.0 / 3.0 * 1000.0) - 1.0).abs() < 1e-9,
            "{steinmetz}"
        );
        let (big, small) = (20.0, 0.1);
        let thin = cross_hole_volume(big, small);
        let series = PI * small * small * 2.0 * big - PI * small.powi(4) / (4.0 * big);
        assert!((thin / series - 1.0).abs() < 1e-9, "{thin} vs {series}");
        // Shorter than the straight hole, longer than the bicylinder's share.
        let mid = cross_hole_volume(20.0, 3.0);
        assert!(
            mid < PI * 9.0 * 40.0 && mid > PI * 9.0 * 40.0 * 0.99,
            "{mid}"
        );
    }

    #[test]
    fn a_cross_hole_needs_a_wall_beside_it_and_room_above_and_below() {
        let rod = |hole_radius: f64, z: f64| Part {
            body: Body::Cylinder {
                radius: 10.0,
                height: 40.0,
                edges: EdgeFinish::Sharp,
            },
            cuts: vec![Cut::Hole {
                axis: Axis::X,
                centre: [0.0, z],
                radius: hole_radius,
                from: -10.0,
                to: 10.0,
                through: true,
            }],
        };
        assert!(rod(3.0, 20.0).check().is_ok());
        assert!(rod(9.5, 20.0).check().is_ok());
        assert!(rod(9.6, 20.0).check().is_err());
        assert!(rod(3.0, 3.5).check().is_ok());
        assert!(rod(3.0, 3.4).check().is_err());
        assert!(rod(3.0, 36.6).check().is_err());
        let expected = rod(3.0, 20.0).expected().volume.unwrap();
        let exact = PI * 100.0 * 40.0 - cross_hole_volume(10.0, 3.0);
        assert!((expected - exact).abs() < 1e-9 * exact);
        let script = rod(3.0, 20.0).script();
        assert!(
            script.contains("Part.makeCylinder(3.0, 22.0, App.Vector(-11.0, 0.0, 20.0), App.Vector(1.0, 0.0, 0.0))"),
            "{script}"
        );
    }

    #[test]
    fn the_script_leaves_one_part() {
        let part = Part::solid(Body::Sphere { radius: 5.0 });
        let script = part.script();
        assert!(script.contains("Part.makeSphere(5.0)"), "{script}");
        assert_eq!(script.matches("doc.addObject").count(), 1);
    }
}
