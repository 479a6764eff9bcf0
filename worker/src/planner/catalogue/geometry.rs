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

use crate::planner::{ExpectedGeometry, fmt};

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
    /// `thickness` thick, sharing the corner at the origin, `width` deep along y.
    Angle {
        leg_x: f64,
        leg_z: f64,
        width: f64,
        thickness: f64,
    },
}

/// The direction a hole runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Holes through the upright leg of an L profile; `centre` is (y, z).
    X,
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
}

impl Cut {
    fn volume(&self) -> f64 {
        match *self {
            Cut::Hole {
                radius, from, to, ..
            } => PI * radius * radius * (to - from),
            Cut::Pocket { size, from, to, .. } => size[0] * size[1] * (to - from),
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
        let volume = self.body.volume() - self.cuts.iter().map(Cut::volume).sum::<f64>();
        ExpectedGeometry {
            bbox: Some(self.body.bbox()),
            volume: Some(volume),
            solids: Some(1),
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
    }
}

/// Whether two cuts keep at least the minimum wall between them.
fn apart(a: &Cut, b: &Cut) -> bool {
    match (a, b) {
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
        ) if axis_a == axis_b => {
            let distance = (ca[0] - cb[0]).hypot(ca[1] - cb[1]);
            distance >= ra + rb + MIN_WALL_MM
        }
        // Holes across different axes only exist in different legs of an L profile, whose
        // regions `Body::holds` keeps apart.
        (Cut::Hole { .. }, Cut::Hole { .. }) => true,
        // A part has at most one pocket, and never a pocket and a hole.
        _ => false,
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
            } => thickness * width * (leg_x + leg_z - thickness),
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
            } => vec![
                ("first leg", leg_x),
                ("second leg", leg_z),
                ("width", width),
                ("thickness", thickness),
            ],
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
                    _ => false,
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
                };
                let region = match axis {
                    Axis::Z => Region::inset(along, [0.0, across_end], MIN_WALL_MM),
                    Axis::X => Region::inset(along, [*thickness, across_end], MIN_WALL_MM),
                };
                region.holds_circle(*centre, *radius)
                    && spans(*from, *to, *through, 0.0, *thickness)
            }
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
            } => {
                let corner = across_flats / 3f64.sqrt();
                let points: Vec<String> = (0..=6)
                    .map(|k| {
                        let angle = PI / 3.0 * f64::from(k % 6);
                        format!(
                            "App.Vector({:?}, {:?}, 0.0)",
                            corner * angle.cos(),
                            corner * angle.sin()
                        )
                    })
                    .collect();
                format!(
                    "hexagon = Part.Face(Part.makePolygon([{}]))\n\
                     shape = hexagon.extrude(App.Vector(0.0, 0.0, {height:?}))\n",
                    points.join(", ")
                )
            }
            Body::Angle {
                leg_x,
                leg_z,
                width,
                thickness,
            } => format!(
                "shape = Part.makeBox({leg_x:?}, {width:?}, {thickness:?}).fuse(\
                 Part.makeBox({thickness:?}, {width:?}, {leg_z:?})).removeSplitter()\n"
            ),
        }
    }
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
        }
    }
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

    #[test]
    fn the_script_leaves_one_part() {
        let part = Part::solid(Body::Sphere { radius: 5.0 });
        let script = part.script();
        assert!(script.contains("Part.makeSphere(5.0)"), "{script}");
        assert_eq!(script.matches("doc.addObject").count(), 1);
    }
}
