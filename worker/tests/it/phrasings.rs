//! Plain-English phrasings of every catalogue entry and the exact parameters each must yield
//! (in mm), including unit conversion, fractions and word numbers. Also planned in a loop by
//! `examples/planner_timing.rs`.

/// One phrasing: the prompt, the catalogue entry it names, and every parameter it yields.
pub struct Phrasing {
    pub prompt: &'static str,
    pub entry: &'static str,
    pub parameters: &'static [(&'static str, f64)],
}

const fn p(
    prompt: &'static str,
    entry: &'static str,
    parameters: &'static [(&'static str, f64)],
) -> Phrasing {
    Phrasing {
        prompt,
        entry,
        parameters,
    }
}

const IN: f64 = 25.4;

pub const PHRASINGS: &[Phrasing] = &[
    // box / cube
    p(
        "Create a simple box 100x50x30mm",
        "box",
        &[("length", 100.0), ("width", 50.0), ("height", 30.0)],
    ),
    p(
        "a block 100 x 50 x 30 mm",
        "box",
        &[("length", 100.0), ("width", 50.0), ("height", 30.0)],
    ),
    p(
        "box 10 by 5 by 3 cm",
        "box",
        &[("length", 100.0), ("width", 50.0), ("height", 30.0)],
    ),
    p(
        "a 2x1x0.5 in plate",
        "box",
        &[("length", 2.0 * IN), ("width", IN), ("height", 0.5 * IN)],
    ),
    p(
        "a box, length 100, width 50, height 30",
        "box",
        &[("length", 100.0), ("width", 50.0), ("height", 30.0)],
    ),
    p(
        "a cuboid 100 mm long, 50 mm wide and 30 mm tall",
        "box",
        &[("length", 100.0), ("width", 50.0), ("height", 30.0)],
    ),
    p(
        "a plate 120 x 80 mm, 6 mm thick",
        "box",
        &[("length", 120.0), ("width", 80.0), ("height", 6.0)],
    ),
    p(
        "a 20 mm cube",
        "box",
        &[("length", 20.0), ("width", 20.0), ("height", 20.0)],
    ),
    p(
        "a cube with side 1 1/2\"",
        "box",
        &[
            ("length", 1.5 * IN),
            ("width", 1.5 * IN),
            ("height", 1.5 * IN),
        ],
    ),
    p(
        "a two inch cube",
        "box",
        &[
            ("length", 2.0 * IN),
            ("width", 2.0 * IN),
            ("height", 2.0 * IN),
        ],
    ),
    p(
        "a brick 0.2 x 0.1 x 0.05 m",
        "box",
        &[("length", 200.0), ("width", 100.0), ("height", 50.0)],
    ),
    p(
        "a box 100x50x30 mm with 3 mm fillets",
        "box",
        &[
            ("length", 100.0),
            ("width", 50.0),
            ("height", 30.0),
            ("fillet_radius", 3.0),
        ],
    ),
    p(
        "a 40 mm cube with rounded edges of radius 4 mm",
        "box",
        &[
            ("length", 40.0),
            ("width", 40.0),
            ("height", 40.0),
            ("fillet_radius", 4.0),
        ],
    ),
    p(
        "a block 60 × 40 × 20 mm with 2 mm chamfers on all edges",
        "box",
        &[
            ("length", 60.0),
            ("width", 40.0),
            ("height", 20.0),
            ("chamfer", 2.0),
        ],
    ),
    p(
        "a box 4 x 3 x 2 inches, chamfered 1/8\"",
        "box",
        &[
            ("length", 4.0 * IN),
            ("width", 3.0 * IN),
            ("height", 2.0 * IN),
            ("chamfer", IN / 8.0),
        ],
    ),
    // cylinder
    p(
        "a cylinder 40 mm in diameter and 25 mm tall",
        "cylinder",
        &[("diameter", 40.0), ("height", 25.0)],
    ),
    p(
        "cylinder diameter 40 height 25",
        "cylinder",
        &[("diameter", 40.0), ("height", 25.0)],
    ),
    p(
        "a rod with radius 20 mm and length 25 mm",
        "cylinder",
        &[("diameter", 40.0), ("height", 25.0)],
    ),
    p(
        "cylinder Ø40 x 25 mm high",
        "cylinder",
        &[("diameter", 40.0), ("height", 25.0)],
    ),
    p(
        "a disc 4 cm diameter, 2.5 cm thick",
        "cylinder",
        &[("diameter", 40.0), ("height", 25.0)],
    ),
    p(
        "a puck 3 in across and 1 in thick",
        "cylinder",
        &[("diameter", 3.0 * IN), ("height", IN)],
    ),
    p(
        "a dowel 3/8\" diameter, 2\" long",
        "cylinder",
        &[("diameter", 0.375 * IN), ("height", 2.0 * IN)],
    ),
    p(
        "a cylinder Ø30 x 40 with 1 mm chamfers",
        "cylinder",
        &[("diameter", 30.0), ("height", 40.0), ("chamfer", 1.0)],
    ),
    p(
        "a cylinder of radius 10 and height 30 with 2 mm fillets",
        "cylinder",
        &[("diameter", 20.0), ("height", 30.0), ("fillet_radius", 2.0)],
    ),
    // cylinder with one hole across its axis
    p(
        "a cylinder 40 mm diameter 60 mm tall with a 6 mm cross hole",
        "cylinder",
        &[
            ("diameter", 40.0),
            ("height", 60.0),
            ("hole_diameter", 6.0),
            ("hole_centre_height", 30.0),
        ],
    ),
    p(
        "a 25 mm rod 80 mm long with a 5 mm cross hole",
        "cylinder",
        &[
            ("diameter", 25.0),
            ("height", 80.0),
            ("hole_diameter", 5.0),
            ("hole_centre_height", 40.0),
        ],
    ),
    p(
        "a cylinder Ø40 x 60 with a 6 mm hole drilled across it 20 mm from the top",
        "cylinder",
        &[
            ("diameter", 40.0),
            ("height", 60.0),
            ("hole_diameter", 6.0),
            ("hole_centre_height", 40.0),
        ],
    ),
    p(
        "a shaft 20 mm in diameter, 100 mm long, with an 8 mm cross drilled hole 15 mm from the bottom",
        "cylinder",
        &[
            ("diameter", 20.0),
            ("height", 100.0),
            ("hole_diameter", 8.0),
            ("hole_centre_height", 15.0),
        ],
    ),
    p(
        "a 1/2 inch dowel 3 inches long with a 1/8\" transverse hole 1\" from the bottom",
        "cylinder",
        &[
            ("diameter", 0.5 * IN),
            ("height", 3.0 * IN),
            ("hole_diameter", 0.125 * IN),
            ("hole_centre_height", IN),
        ],
    ),
    p(
        "a dowel 10 mm diameter 50 mm long with a 3 mm hole crosswise through it",
        "cylinder",
        &[
            ("diameter", 10.0),
            ("height", 50.0),
            ("hole_diameter", 3.0),
            ("hole_centre_height", 25.0),
        ],
    ),
    p(
        "a round bar 30 mm diameter 90 mm long with a radial 6 mm through hole 25 mm from the top, 1 mm chamfers on both ends",
        "cylinder",
        &[
            ("diameter", 30.0),
            ("height", 90.0),
            ("hole_diameter", 6.0),
            ("hole_centre_height", 65.0),
            ("chamfer", 1.0),
        ],
    ),
    // sphere
    p(
        "a sphere 50 mm in diameter",
        "sphere",
        &[("diameter", 50.0)],
    ),
    p("a ball of radius 15 mm", "sphere", &[("diameter", 30.0)]),
    p("a 2 inch sphere", "sphere", &[("diameter", 2.0 * IN)]),
    p("sphere Ø12", "sphere", &[("diameter", 12.0)]),
    // cone / truncated cone
    p(
        "a cone 40 mm diameter, 60 mm tall",
        "cone",
        &[
            ("base_diameter", 40.0),
            ("top_diameter", 0.0),
            ("height", 60.0),
        ],
    ),
    p(
        "a cone with base radius 20 and height 50",
        "cone",
        &[
            ("base_diameter", 40.0),
            ("top_diameter", 0.0),
            ("height", 50.0),
        ],
    ),
    p(
        "a truncated cone, base diameter 40, top diameter 20, 30 mm high",
        "cone",
        &[
            ("base_diameter", 40.0),
            ("top_diameter", 20.0),
            ("height", 30.0),
        ],
    ),
    p(
        "a frustum with bottom diameter 5 cm, top diameter 3 cm and height 4 cm",
        "cone",
        &[
            ("base_diameter", 50.0),
            ("top_diameter", 30.0),
            ("height", 40.0),
        ],
    ),
    // torus
    p(
        "a torus with major radius 30 mm and minor radius 5 mm",
        "torus",
        &[("major_radius", 30.0), ("minor_radius", 5.0)],
    ),
    p(
        "a ring 60 mm outer diameter, 40 mm inner diameter",
        "torus",
        &[("major_radius", 25.0), ("minor_radius", 5.0)],
    ),
    p(
        "an o-ring 50 mm OD with a 4 mm cross section",
        "torus",
        &[("major_radius", 23.0), ("minor_radius", 2.0)],
    ),
    p(
        "a donut, major diameter 80, minor diameter 20",
        "torus",
        &[("major_radius", 40.0), ("minor_radius", 10.0)],
    ),
    // tube
    p(
        "a tube 30 mm OD, 24 mm ID, 100 mm long",
        "tube",
        &[
            ("outer_diameter", 30.0),
            ("inner_diameter", 24.0),
            ("length", 100.0),
        ],
    ),
    p(
        "a tube 30 mm OD with a 2 mm wall, 100 mm long",
        "tube",
        &[
            ("outer_diameter", 30.0),
            ("inner_diameter", 26.0),
            ("length", 100.0),
        ],
    ),
    p(
        "a pipe with an outer diameter of 1 1/2\" and a wall of 1/8\", 12\" long",
        "tube",
        &[
            ("outer_diameter", 1.5 * IN),
            ("inner_diameter", 1.25 * IN),
            ("length", 12.0 * IN),
        ],
    ),
    p(
        "a sleeve, inner diameter 20, wall thickness 3, length 40",
        "tube",
        &[
            ("outer_diameter", 26.0),
            ("inner_diameter", 20.0),
            ("length", 40.0),
        ],
    ),
    p(
        "a hollow cylinder 50 mm outside diameter, 40 mm inside diameter, 80 mm tall",
        "tube",
        &[
            ("outer_diameter", 50.0),
            ("inner_diameter", 40.0),
            ("length", 80.0),
        ],
    ),
    p(
        "a disc 50 mm in diameter, 5 mm thick with a 20 mm hole through the middle",
        "tube",
        &[
            ("outer_diameter", 50.0),
            ("inner_diameter", 20.0),
            ("length", 5.0),
        ],
    ),
    // plate with holes
    p(
        "a plate 100x60x5 mm with four 6 mm holes at the corners 8 mm from the edges",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 5.0),
            ("hole_diameter", 6.0),
            ("hole_count", 4.0),
            ("edge_margin", 8.0),
        ],
    ),
    p(
        "a 100 x 50 x 5 mm plate with 4 Ø6 holes",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 50.0),
            ("height", 5.0),
            ("hole_diameter", 6.0),
            ("hole_count", 4.0),
            ("edge_margin", 9.0),
        ],
    ),
    p(
        "a plate 100x50x5 with a 5 mm hole in each corner, 10 mm from the edge",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 50.0),
            ("height", 5.0),
            ("hole_diameter", 5.0),
            ("hole_count", 4.0),
            ("edge_margin", 10.0),
        ],
    ),
    p(
        "a plate 100x50x5 with four holes, one in each corner, of 4 mm",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 50.0),
            ("height", 5.0),
            ("hole_diameter", 4.0),
            ("hole_count", 4.0),
            ("edge_margin", 6.0),
        ],
    ),
    p(
        "a block 60x40x30 mm with a 10 mm hole through the middle",
        "plate_with_holes",
        &[
            ("length", 60.0),
            ("width", 40.0),
            ("height", 30.0),
            ("hole_diameter", 10.0),
            ("hole_count", 1.0),
        ],
    ),
    p(
        "a block 50x50x20 with a centred through hole of diameter 12",
        "plate_with_holes",
        &[
            ("length", 50.0),
            ("width", 50.0),
            ("height", 20.0),
            ("hole_diameter", 12.0),
            ("hole_count", 1.0),
        ],
    ),
    p(
        "a bar 200 x 30 x 10 mm with 3 holes in a row 50 mm apart, 8 mm diameter",
        "plate_with_holes",
        &[
            ("length", 200.0),
            ("width", 30.0),
            ("height", 10.0),
            ("hole_diameter", 8.0),
            ("hole_count", 3.0),
            ("hole_spacing", 50.0),
        ],
    ),
    p(
        "a plate 150x40x4 with five 5 mm holes in a row",
        "plate_with_holes",
        &[
            ("length", 150.0),
            ("width", 40.0),
            ("height", 4.0),
            ("hole_diameter", 5.0),
            ("hole_count", 5.0),
        ],
    ),
    p(
        "a plate 120x80x3 with a 3x2 grid of 5 mm holes",
        "plate_with_holes",
        &[
            ("length", 120.0),
            ("width", 80.0),
            ("height", 3.0),
            ("hole_diameter", 5.0),
            ("hole_count", 6.0),
            ("grid_columns", 3.0),
            ("grid_rows", 2.0),
        ],
    ),
    p(
        "a plate 100 x 100 x 5 with 9 holes of 6 mm in a 3 by 3 grid, 25 mm apart",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 100.0),
            ("height", 5.0),
            ("hole_diameter", 6.0),
            ("hole_count", 9.0),
            ("grid_columns", 3.0),
            ("grid_rows", 3.0),
            ("hole_spacing", 25.0),
        ],
    ),
    p(
        "a plate 100x60x5 with four M6 holes at the corners",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 5.0),
            ("hole_diameter", 6.6),
            ("hole_count", 4.0),
            ("edge_margin", 9.9),
        ],
    ),
    p(
        "a plate 4 x 3 x 1/4 inch with two 1/4\" holes",
        "plate_with_holes",
        &[
            ("length", 4.0 * IN),
            ("width", 3.0 * IN),
            ("height", 0.25 * IN),
            ("hole_diameter", 0.25 * IN),
            ("hole_count", 2.0),
        ],
    ),
    p(
        "a plate 100x50x5 mm with four 6 mm mounting holes and 2 mm fillets",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 50.0),
            ("height", 5.0),
            ("hole_diameter", 6.0),
            ("hole_count", 4.0),
            ("edge_margin", 9.0),
            ("fillet_radius", 2.0),
        ],
    ),
    // block with pocket
    p(
        "a block 60x40x30 mm with a 30x20x10 mm pocket",
        "block_with_pocket",
        &[
            ("length", 60.0),
            ("width", 40.0),
            ("height", 30.0),
            ("pocket_length", 30.0),
            ("pocket_width", 20.0),
            ("pocket_depth", 10.0),
        ],
    ),
    p(
        "a block 80 x 60 x 25 with a pocket 40 x 30 mm, 15 mm deep",
        "block_with_pocket",
        &[
            ("length", 80.0),
            ("width", 60.0),
            ("height", 25.0),
            ("pocket_length", 40.0),
            ("pocket_width", 30.0),
            ("pocket_depth", 15.0),
        ],
    ),
    p(
        "a block 50x50x20 with a 20 mm blind hole 8 mm deep",
        "block_with_pocket",
        &[
            ("length", 50.0),
            ("width", 50.0),
            ("height", 20.0),
            ("pocket_diameter", 20.0),
            ("pocket_depth", 8.0),
        ],
    ),
    p(
        "a 40 mm cube with a hole 10 mm in diameter and 15 mm deep",
        "block_with_pocket",
        &[
            ("length", 40.0),
            ("width", 40.0),
            ("height", 40.0),
            ("pocket_diameter", 10.0),
            ("pocket_depth", 15.0),
        ],
    ),
    // L-bracket
    p(
        "an L-bracket 60x40x5 mm, 30 mm wide, with a 6 mm hole in each leg",
        "l_bracket",
        &[
            ("leg_length", 60.0),
            ("leg_height", 40.0),
            ("thickness", 5.0),
            ("width", 30.0),
            ("hole_diameter", 6.0),
            ("holes_per_leg", 1.0),
        ],
    ),
    p(
        "an L-bracket 60x40x5 mm with two 6 mm holes",
        "l_bracket",
        &[
            ("leg_length", 60.0),
            ("leg_height", 40.0),
            ("thickness", 5.0),
            ("width", 40.0),
            ("hole_diameter", 6.0),
            ("holes_per_leg", 1.0),
        ],
    ),
    p(
        "an angle bracket 50 x 50 x 3, 40 wide, with two M4 holes per leg",
        "l_bracket",
        &[
            ("leg_length", 50.0),
            ("leg_height", 50.0),
            ("thickness", 3.0),
            ("width", 40.0),
            ("hole_diameter", 4.5),
            ("holes_per_leg", 2.0),
        ],
    ),
    p(
        "an L shaped bracket, length 80, height 60, thickness 6, width 50",
        "l_bracket",
        &[
            ("leg_length", 80.0),
            ("leg_height", 60.0),
            ("thickness", 6.0),
            ("width", 50.0),
        ],
    ),
    // flange
    p(
        "a flange 120 mm OD, 60 mm bore, 12 mm thick with 6 holes of 10 mm on a 90 mm pitch circle",
        "flange",
        &[
            ("outer_diameter", 120.0),
            ("inner_diameter", 60.0),
            ("thickness", 12.0),
            ("hole_count", 6.0),
            ("hole_diameter", 10.0),
            ("pitch_circle_diameter", 90.0),
        ],
    ),
    p(
        "a flange, outer diameter 100, inner diameter 40, thickness 10, with 4 bolt holes Ø8",
        "flange",
        &[
            ("outer_diameter", 100.0),
            ("inner_diameter", 40.0),
            ("thickness", 10.0),
            ("hole_count", 4.0),
            ("hole_diameter", 8.0),
            ("pitch_circle_diameter", 70.0),
        ],
    ),
    p(
        "a pipe flange 6 in OD, 2 in ID, 1/2 in thick, eight 5/8\" holes on a 4 3/4\" bolt circle",
        "flange",
        &[
            ("outer_diameter", 6.0 * IN),
            ("inner_diameter", 2.0 * IN),
            ("thickness", 0.5 * IN),
            ("hole_count", 8.0),
            ("hole_diameter", 0.625 * IN),
            ("pitch_circle_diameter", 4.75 * IN),
        ],
    ),
    p(
        "a flange 150 OD, 80 ID, 15 thick with 8 M12 holes on a PCD of 120",
        "flange",
        &[
            ("outer_diameter", 150.0),
            ("inner_diameter", 80.0),
            ("thickness", 15.0),
            ("hole_count", 8.0),
            ("hole_diameter", 13.5),
            ("pitch_circle_diameter", 120.0),
        ],
    ),
    // washer
    p(
        "an M8 washer",
        "washer",
        &[
            ("metric_size", 8.0),
            ("inner_diameter", 8.4),
            ("outer_diameter", 16.0),
            ("thickness", 1.6),
        ],
    ),
    p(
        "a flat washer for M6",
        "washer",
        &[
            ("metric_size", 6.0),
            ("inner_diameter", 6.4),
            ("outer_diameter", 12.0),
            ("thickness", 1.6),
        ],
    ),
    p(
        "an M24 plain washer",
        "washer",
        &[
            ("metric_size", 24.0),
            ("inner_diameter", 25.0),
            ("outer_diameter", 44.0),
            ("thickness", 4.0),
        ],
    ),
    p(
        "a washer 10.5 mm ID, 22 mm OD, 2 mm thick",
        "washer",
        &[
            ("inner_diameter", 10.5),
            ("outer_diameter", 22.0),
            ("thickness", 2.0),
        ],
    ),
    p(
        "a flat ring 40 mm outer diameter, 30 mm inner diameter, 2 mm thick",
        "washer",
        &[
            ("inner_diameter", 30.0),
            ("outer_diameter", 40.0),
            ("thickness", 2.0),
        ],
    ),
    // hex nut
    p(
        "a hex nut M10",
        "hex_nut",
        &[
            ("metric_size", 10.0),
            ("across_flats", 16.0),
            ("height", 8.4),
            ("bore_diameter", 10.0),
        ],
    ),
    p(
        "an M3 nut",
        "hex_nut",
        &[
            ("metric_size", 3.0),
            ("across_flats", 5.5),
            ("height", 2.4),
            ("bore_diameter", 3.0),
        ],
    ),
    p(
        "M24 hexagon nut",
        "hex_nut",
        &[
            ("metric_size", 24.0),
            ("across_flats", 36.0),
            ("height", 21.5),
            ("bore_diameter", 24.0),
        ],
    ),
    p(
        "a hex nut 13 mm across flats, 6.8 mm high with an 8 mm bore",
        "hex_nut",
        &[
            ("across_flats", 13.0),
            ("height", 6.8),
            ("bore_diameter", 8.0),
        ],
    ),
    // spacer / standoff
    p(
        "an M4 spacer 12 mm long",
        "spacer",
        &[
            ("outer_diameter", 8.0),
            ("inner_diameter", 4.5),
            ("length", 12.0),
        ],
    ),
    p(
        "a standoff for M3, 10 mm OD, 20 mm long",
        "spacer",
        &[
            ("outer_diameter", 10.0),
            ("inner_diameter", 3.4),
            ("length", 20.0),
        ],
    ),
    p(
        "a spacer 10 mm OD, 5.3 mm ID, 15 mm long",
        "spacer",
        &[
            ("outer_diameter", 10.0),
            ("inner_diameter", 5.3),
            ("length", 15.0),
        ],
    ),
    // edge selection: which edges a finish goes on
    p(
        "a block 80 x 60 x 40 mm with 3 mm fillets on its vertical edges only",
        "box",
        &[
            ("length", 80.0),
            ("width", 60.0),
            ("height", 40.0),
            ("vertical_edge_fillet_radius", 3.0),
        ],
    ),
    p(
        "a 50 mm cube with 2 mm chamfers along the top edges",
        "box",
        &[
            ("length", 50.0),
            ("width", 50.0),
            ("height", 50.0),
            ("top_edge_chamfer", 2.0),
        ],
    ),
    p(
        "box 100x50x30, round the bottom edges with a 5 mm fillet",
        "box",
        &[
            ("length", 100.0),
            ("width", 50.0),
            ("height", 30.0),
            ("bottom_edge_fillet_radius", 5.0),
        ],
    ),
    p(
        "a plate 120 x 80 x 10 mm, 2 mm chamfer on the top and bottom edges",
        "box",
        &[
            ("length", 120.0),
            ("width", 80.0),
            ("height", 10.0),
            ("top_and_bottom_edge_chamfer", 2.0),
        ],
    ),
    p(
        "a slab 200x100x20 with 4 mm fillets on the horizontal edges",
        "box",
        &[
            ("length", 200.0),
            ("width", 100.0),
            ("height", 20.0),
            ("top_and_bottom_edge_fillet_radius", 4.0),
        ],
    ),
    p(
        "a plate 100x60x5 mm with four 6 mm holes at the corners and 3 mm fillets on the vertical edges",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 5.0),
            ("hole_diameter", 6.0),
            ("hole_count", 4.0),
            ("edge_margin", 9.0),
            ("vertical_edge_fillet_radius", 3.0),
        ],
    ),
    p(
        "a cylinder 40 mm in diameter and 25 mm tall with a 2 mm chamfer on the top rim",
        "cylinder",
        &[
            ("diameter", 40.0),
            ("height", 25.0),
            ("top_rim_chamfer", 2.0),
        ],
    ),
    p(
        "a disc 60 mm across, 10 mm thick, with the bottom edge rounded 1.5 mm",
        "cylinder",
        &[
            ("diameter", 60.0),
            ("height", 10.0),
            ("bottom_rim_fillet_radius", 1.5),
        ],
    ),
    p(
        "a rod 20 mm in diameter, 100 mm long, chamfered 1 mm at both ends",
        "cylinder",
        &[("diameter", 20.0), ("height", 100.0), ("chamfer", 1.0)],
    ),
    p(
        "a block 60x40x30 mm with a 10 mm hole drilled vertically through the top face",
        "plate_with_holes",
        &[
            ("length", 60.0),
            ("width", 40.0),
            ("height", 30.0),
            ("hole_diameter", 10.0),
            ("hole_count", 1.0),
        ],
    ),
    // inner and outer in either order, alone
    p(
        "a washer, outer 40 mm, inner 25mm, 3 mm thick",
        "washer",
        &[
            ("outer_diameter", 40.0),
            ("inner_diameter", 25.0),
            ("thickness", 3.0),
        ],
    ),
    p(
        "a tube, inner 20 mm and outer 30 mm, 80 mm long",
        "tube",
        &[
            ("outer_diameter", 30.0),
            ("inner_diameter", 20.0),
            ("length", 80.0),
        ],
    ),
    // a count before a size and a describing word
    p(
        "a plate 100x60x5 with four 5 mm corner holes",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 5.0),
            ("hole_diameter", 5.0),
            ("hole_count", 4.0),
            ("edge_margin", 7.5),
        ],
    ),
    p(
        "a foil 100 x 100 x 0.05 mm",
        "box",
        &[("length", 100.0), ("width", 100.0), ("height", 0.05)],
    ),
    // a size named through the fastener it fits
    p(
        "a flat washer for an M8 screw",
        "washer",
        &[
            ("metric_size", 8.0),
            ("inner_diameter", 8.4),
            ("outer_diameter", 16.0),
            ("thickness", 1.6),
        ],
    ),
    // enclosure / project box
    p(
        "a project box 120 x 80 x 40 mm with 2 mm walls and a lid",
        "enclosure",
        &[
            ("length", 120.0),
            ("width", 80.0),
            ("height", 40.0),
            ("wall_thickness", 2.0),
            ("floor_thickness", 2.0),
            ("lid", 1.0),
        ],
    ),
    p(
        "an open-top box 100x60x30 mm, walls 3 mm thick, 4 mm floor",
        "enclosure",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 30.0),
            ("wall_thickness", 3.0),
            ("floor_thickness", 4.0),
        ],
    ),
    p(
        "an enclosure 150 mm long, 100 mm wide and 50 mm tall with 2.5 mm thick walls",
        "enclosure",
        &[
            ("length", 150.0),
            ("width", 100.0),
            ("height", 50.0),
            ("wall_thickness", 2.5),
            ("floor_thickness", 2.5),
        ],
    ),
    p(
        "a 3D printed electronics enclosure, 80 x 50 x 25 mm outside, wall thickness 1.6 mm",
        "enclosure",
        &[
            ("length", 80.0),
            ("width", 50.0),
            ("height", 25.0),
            ("wall_thickness", 1.6),
            ("floor_thickness", 1.6),
        ],
    ),
    p(
        "a tray 200x150x20 mm with 2 mm walls and a 3 mm base",
        "enclosure",
        &[
            ("length", 200.0),
            ("width", 150.0),
            ("height", 20.0),
            ("wall_thickness", 2.0),
            ("floor_thickness", 3.0),
        ],
    ),
    // spur gear
    p(
        "a spur gear, module 2, 24 teeth, 10 mm wide with an 8 mm bore",
        "spur_gear",
        &[
            ("module", 2.0),
            ("teeth", 24.0),
            ("pressure_angle", 20.0),
            ("face_width", 10.0),
            ("bore_diameter", 8.0),
        ],
    ),
    p(
        "a 20 tooth gear with module 1.5, 8 mm thick",
        "spur_gear",
        &[
            ("module", 1.5),
            ("teeth", 20.0),
            ("pressure_angle", 20.0),
            ("face_width", 8.0),
        ],
    ),
    p(
        "a gear with 36 teeth, 12 diametral pitch, 1/2 inch face width, 1/4\" bore",
        "spur_gear",
        &[
            ("module", IN / 12.0),
            ("teeth", 36.0),
            ("pressure_angle", 20.0),
            ("face_width", 0.5 * IN),
            ("bore_diameter", 0.25 * IN),
        ],
    ),
    p(
        "a spur gear 50 mm pitch diameter, 25 teeth, 14.5 degree pressure angle, 6 mm thick",
        "spur_gear",
        &[
            ("module", 2.0),
            ("teeth", 25.0),
            ("pressure_angle", 14.5),
            ("face_width", 6.0),
        ],
    ),
    p(
        "a cog with 30 teeth, outside diameter 64 mm, 5 mm wide",
        "spur_gear",
        &[
            ("module", 2.0),
            ("teeth", 30.0),
            ("pressure_angle", 20.0),
            ("face_width", 5.0),
        ],
    ),
    // hex bolt blank
    p(
        "an M8 x 40 hex bolt",
        "hex_bolt",
        &[
            ("metric_size", 8.0),
            ("shank_diameter", 8.0),
            ("length", 40.0),
            ("across_flats", 13.0),
            ("head_height", 5.3),
        ],
    ),
    p(
        "a hex head screw M6, 30 mm long",
        "hex_bolt",
        &[
            ("metric_size", 6.0),
            ("shank_diameter", 6.0),
            ("length", 30.0),
            ("across_flats", 10.0),
            ("head_height", 4.0),
        ],
    ),
    p(
        "an M12 bolt 80 mm long",
        "hex_bolt",
        &[
            ("metric_size", 12.0),
            ("shank_diameter", 12.0),
            ("length", 80.0),
            ("across_flats", 18.0),
            ("head_height", 7.5),
        ],
    ),
    p(
        "a steel hexagon head bolt M20 x 100, plain shank",
        "hex_bolt",
        &[
            ("metric_size", 20.0),
            ("shank_diameter", 20.0),
            ("length", 100.0),
            ("across_flats", 30.0),
            ("head_height", 12.5),
        ],
    ),
    // plate with slots
    p(
        "a plate 120 x 60 x 5 mm with two 30 x 8 mm slots",
        "plate_with_slots",
        &[
            ("length", 120.0),
            ("width", 60.0),
            ("height", 5.0),
            ("slot_length", 30.0),
            ("slot_width", 8.0),
            ("slot_count", 2.0),
        ],
    ),
    p(
        "a 100x50x4 plate with a slot 40 mm long and 6 mm wide through the middle",
        "plate_with_slots",
        &[
            ("length", 100.0),
            ("width", 50.0),
            ("height", 4.0),
            ("slot_length", 40.0),
            ("slot_width", 6.0),
            ("slot_count", 1.0),
        ],
    ),
    p(
        "a mounting plate 150 x 80 x 6 mm with 3 slotted holes 25 mm long, 8 mm wide, 40 mm apart",
        "plate_with_slots",
        &[
            ("length", 150.0),
            ("width", 80.0),
            ("height", 6.0),
            ("slot_length", 25.0),
            ("slot_width", 8.0),
            ("slot_count", 3.0),
            ("slot_spacing", 40.0),
        ],
    ),
    p(
        "a plate 200x100x10 with four 10 mm wide, 50 mm long slots running crosswise",
        "plate_with_slots",
        &[
            ("length", 200.0),
            ("width", 100.0),
            ("height", 10.0),
            ("slot_length", 50.0),
            ("slot_width", 10.0),
            ("slot_count", 4.0),
            ("slots_across", 1.0),
        ],
    ),
    // countersunk and counterbored holes
    p(
        "a plate 100x60x6 mm with four countersunk M5 holes at the corners",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 6.0),
            ("hole_diameter", 5.5),
            ("hole_count", 4.0),
            ("edge_margin", 8.25),
            ("countersink_diameter", 11.2),
        ],
    ),
    p(
        "a 120 x 80 x 10 plate with 4 counterbored holes for M6 screws, 10 mm from the edges",
        "plate_with_holes",
        &[
            ("length", 120.0),
            ("width", 80.0),
            ("height", 10.0),
            ("hole_diameter", 6.6),
            ("hole_count", 4.0),
            ("edge_margin", 10.0),
            ("counterbore_diameter", 11.0),
            ("counterbore_depth", 6.4),
        ],
    ),
    p(
        "a block 80x40x20 with a 6 mm hole counterbored 10 mm diameter, 5 mm deep",
        "plate_with_holes",
        &[
            ("length", 80.0),
            ("width", 40.0),
            ("height", 20.0),
            ("hole_diameter", 6.0),
            ("hole_count", 1.0),
            ("counterbore_diameter", 10.0),
            ("counterbore_depth", 5.0),
        ],
    ),
    p(
        "a plate 100 x 100 x 8 with 4 holes of 6.6 mm, countersunk to 13 mm, on a 70 x 70 mm rectangle",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 100.0),
            ("height", 8.0),
            ("hole_diameter", 6.6),
            ("hole_count", 4.0),
            ("countersink_diameter", 13.0),
            ("pattern_length", 70.0),
            ("pattern_width", 70.0),
        ],
    ),
    // stepped shaft
    p(
        "a stepped shaft: 20 mm diameter 50 mm long, then 12 mm diameter 30 mm long",
        "stepped_shaft",
        &[
            ("section_1_diameter", 20.0),
            ("section_1_length", 50.0),
            ("section_2_diameter", 12.0),
            ("section_2_length", 30.0),
        ],
    ),
    p(
        "a shaft with a step, Ø30 x 40 then Ø20 x 60 mm",
        "stepped_shaft",
        &[
            ("section_1_diameter", 30.0),
            ("section_1_length", 40.0),
            ("section_2_diameter", 20.0),
            ("section_2_length", 60.0),
        ],
    ),
    p(
        "a stepped rod, 1 inch diameter for 2 inches then 3/4 inch diameter for 3 inches",
        "stepped_shaft",
        &[
            ("section_1_diameter", IN),
            ("section_1_length", 2.0 * IN),
            ("section_2_diameter", 0.75 * IN),
            ("section_2_length", 3.0 * IN),
        ],
    ),
    p(
        "a turned shaft 40 mm diameter 20 mm long, stepping down to 25 mm diameter for 60 mm and then 15 mm diameter for 30 mm",
        "stepped_shaft",
        &[
            ("section_1_diameter", 40.0),
            ("section_1_length", 20.0),
            ("section_2_diameter", 25.0),
            ("section_2_length", 60.0),
            ("section_3_diameter", 15.0),
            ("section_3_length", 30.0),
        ],
    ),
    // pulley / wheel with a hub
    p(
        "a pulley 60 mm in diameter, 20 mm wide, with a 25 mm hub 10 mm long and an 8 mm bore",
        "pulley",
        &[
            ("diameter", 60.0),
            ("width", 20.0),
            ("hub_diameter", 25.0),
            ("hub_length", 10.0),
            ("bore_diameter", 8.0),
        ],
    ),
    p(
        "a wheel 100 mm diameter, 25 mm thick with a 10 mm bore",
        "pulley",
        &[
            ("diameter", 100.0),
            ("width", 25.0),
            ("bore_diameter", 10.0),
        ],
    ),
    p(
        "a belt pulley Ø80 x 30 with a hub of 40 mm diameter, 15 mm long, 12 mm bore",
        "pulley",
        &[
            ("diameter", 80.0),
            ("width", 30.0),
            ("hub_diameter", 40.0),
            ("hub_length", 15.0),
            ("bore_diameter", 12.0),
        ],
    ),
    // hex standoff
    p(
        "an M3 hex standoff 20 mm long",
        "hex_standoff",
        &[
            ("metric_size", 3.0),
            ("across_flats", 5.5),
            ("bore_diameter", 3.0),
            ("length", 20.0),
        ],
    ),
    p(
        "a hex spacer M2.5 x 12",
        "hex_standoff",
        &[
            ("metric_size", 2.5),
            ("across_flats", 5.0),
            ("bore_diameter", 2.5),
            ("length", 12.0),
        ],
    ),
    p(
        "a standoff with a hex body, M4, 15 mm long",
        "hex_standoff",
        &[
            ("metric_size", 4.0),
            ("across_flats", 7.0),
            ("bore_diameter", 4.0),
            ("length", 15.0),
        ],
    ),
    // gusseted L-bracket / shelf bracket
    p(
        "a shelf bracket 150 x 100 x 5 mm, 40 mm wide",
        "l_bracket",
        &[
            ("leg_length", 150.0),
            ("leg_height", 100.0),
            ("thickness", 5.0),
            ("width", 40.0),
            ("gusset_count", 2.0),
            ("gusset_size", 47.5),
            ("gusset_thickness", 5.0),
        ],
    ),
    p(
        "an L-bracket 80x60x6 mm, 50 mm wide, with a 30 mm gusset in the middle and two 6 mm holes in each leg",
        "l_bracket",
        &[
            ("leg_length", 80.0),
            ("leg_height", 60.0),
            ("thickness", 6.0),
            ("width", 50.0),
            ("hole_diameter", 6.0),
            ("holes_per_leg", 2.0),
            ("gusset_count", 1.0),
            ("gusset_size", 30.0),
            ("gusset_thickness", 6.0),
        ],
    ),
    p(
        "a gusseted angle bracket 100 x 100 x 8, 60 wide, with two 10 mm thick gussets",
        "l_bracket",
        &[
            ("leg_length", 100.0),
            ("leg_height", 100.0),
            ("thickness", 8.0),
            ("width", 60.0),
            ("gusset_count", 2.0),
            ("gusset_size", 46.0),
            ("gusset_thickness", 10.0),
        ],
    ),
    // counts and numbers in natural English
    p(
        "a cube 30 mm on a side",
        "box",
        &[("length", 30.0), ("width", 30.0), ("height", 30.0)],
    ),
    p(
        "a plate 100 x 60 x 5 with a 2 by 5 grid of 4 mm holes",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 5.0),
            ("hole_diameter", 4.0),
            ("hole_count", 10.0),
            ("grid_columns", 2.0),
            ("grid_rows", 5.0),
        ],
    ),
    p(
        "a plate 100 x 100 x 5 with a 3 x 3 grid of 5 mm holes, 30 x 25 mm apart",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 100.0),
            ("height", 5.0),
            ("hole_diameter", 5.0),
            ("hole_count", 9.0),
            ("grid_columns", 3.0),
            ("grid_rows", 3.0),
            ("hole_spacing", 30.0),
            ("row_spacing", 25.0),
        ],
    ),
    p(
        "four 6 mm holes on an 80 x 40 mm rectangle in a plate 120 x 60 x 5",
        "plate_with_holes",
        &[
            ("length", 120.0),
            ("width", 60.0),
            ("height", 5.0),
            ("hole_diameter", 6.0),
            ("hole_count", 4.0),
            ("pattern_length", 80.0),
            ("pattern_width", 40.0),
        ],
    ),
    p(
        "a block 80 x 40 x 40 mm with a 10 mm hole through the 80 mm length",
        "plate_with_holes",
        &[
            ("length", 80.0),
            ("width", 40.0),
            ("height", 40.0),
            ("hole_diameter", 10.0),
            ("hole_count", 1.0),
        ],
    ),
    p(
        "a block 60x40x30 with an 8 mm hole drilled front to back",
        "plate_with_holes",
        &[
            ("length", 60.0),
            ("width", 40.0),
            ("height", 30.0),
            ("hole_diameter", 8.0),
            ("hole_count", 1.0),
        ],
    ),
    p(
        "a bar 200 x 30 x 20 with a 6 mm hole along the length",
        "plate_with_holes",
        &[
            ("length", 200.0),
            ("width", 30.0),
            ("height", 20.0),
            ("hole_diameter", 6.0),
            ("hole_count", 1.0),
        ],
    ),
    p(
        "a plate 100x50x10 with four 5 mm holes 6 mm deep at the corners",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 50.0),
            ("height", 10.0),
            ("hole_diameter", 5.0),
            ("hole_count", 4.0),
            ("edge_margin", 7.5),
            ("hole_depth", 6.0),
        ],
    ),
    p(
        "a washer for an M10 bolt",
        "washer",
        &[
            ("metric_size", 10.0),
            ("inner_diameter", 10.5),
            ("outer_diameter", 20.0),
            ("thickness", 2.0),
        ],
    ),
    p(
        "a nut for an M12 bolt",
        "hex_nut",
        &[
            ("metric_size", 12.0),
            ("across_flats", 18.0),
            ("height", 10.8),
            ("bore_diameter", 12.0),
        ],
    ),
    p(
        "an aluminium plate 100 x 50 x 5 mm for a shelf",
        "box",
        &[("length", 100.0), ("width", 50.0), ("height", 5.0)],
    ),
    p(
        "a spacer for M5 screws, 10 mm OD, 8 mm long, in nylon",
        "spacer",
        &[
            ("outer_diameter", 10.0),
            ("inner_diameter", 5.5),
            ("length", 8.0),
        ],
    ),
    p(
        "an enclosure with internal dimensions 100 x 60 x 30 and 2 mm walls",
        "enclosure",
        &[
            ("length", 104.0),
            ("width", 64.0),
            ("height", 32.0),
            ("wall_thickness", 2.0),
            ("floor_thickness", 2.0),
        ],
    ),
    p(
        "a project box, 150 long, 90 wide, 50 high, walls 2.5 mm, floor 3 mm",
        "enclosure",
        &[
            ("length", 150.0),
            ("width", 90.0),
            ("height", 50.0),
            ("wall_thickness", 2.5),
            ("floor_thickness", 3.0),
        ],
    ),
    p(
        "a 40 tooth spur gear, module 1, 6 mm face, 5 mm bore",
        "spur_gear",
        &[
            ("module", 1.0),
            ("teeth", 40.0),
            ("pressure_angle", 20.0),
            ("face_width", 6.0),
            ("bore_diameter", 5.0),
        ],
    ),
    p(
        "a stepped shaft with three sections: 30 mm dia x 20 mm, 20 mm dia x 40 mm, 10 mm dia x 30 mm",
        "stepped_shaft",
        &[
            ("section_1_diameter", 30.0),
            ("section_1_length", 20.0),
            ("section_2_diameter", 20.0),
            ("section_2_length", 40.0),
            ("section_3_diameter", 10.0),
            ("section_3_length", 30.0),
        ],
    ),
    p(
        "a 50 mm pulley, 15 mm wide with a 6 mm bore",
        "pulley",
        &[("diameter", 50.0), ("width", 15.0), ("bore_diameter", 6.0)],
    ),
    p(
        "a wheel with a hub: 80 mm diameter, 20 mm wide, hub 30 mm diameter x 25 mm long, 8 mm bore",
        "pulley",
        &[
            ("diameter", 80.0),
            ("width", 20.0),
            ("hub_diameter", 30.0),
            ("hub_length", 25.0),
            ("bore_diameter", 8.0),
        ],
    ),
    p(
        "a shelf bracket with 200 mm and 150 mm legs, 5 mm thick, 30 mm wide, with a gusset",
        "l_bracket",
        &[
            ("leg_length", 200.0),
            ("leg_height", 150.0),
            ("thickness", 5.0),
            ("width", 30.0),
            ("gusset_count", 1.0),
            ("gusset_size", 72.5),
            ("gusset_thickness", 5.0),
        ],
    ),
    p(
        "a square plate 100 mm on a side and 5 mm thick",
        "box",
        &[("length", 100.0), ("width", 100.0), ("height", 5.0)],
    ),
    p(
        "a row of five 4 mm holes in a 150 x 20 x 3 strip, 25 mm apart",
        "plate_with_holes",
        &[
            ("length", 150.0),
            ("width", 20.0),
            ("height", 3.0),
            ("hole_diameter", 4.0),
            ("hole_count", 5.0),
            ("hole_spacing", 25.0),
        ],
    ),
    p(
        "a 60 x 20 x 20 block with a 5 mm hole running its full length",
        "plate_with_holes",
        &[
            ("length", 60.0),
            ("width", 20.0),
            ("height", 20.0),
            ("hole_diameter", 5.0),
            ("hole_count", 1.0),
        ],
    ),
    p(
        "4 x M5 countersunk holes in a 100 x 60 x 6 plate",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 6.0),
            ("hole_diameter", 5.5),
            ("hole_count", 4.0),
            ("edge_margin", 8.25),
            ("countersink_diameter", 11.2),
        ],
    ),
    p(
        "a plate 100x50x5 made from 6061 aluminium",
        "box",
        &[("length", 100.0), ("width", 50.0), ("height", 5.0)],
    ),
    p(
        "an M3 standoff, hex, 15 mm",
        "hex_standoff",
        &[
            ("metric_size", 3.0),
            ("across_flats", 5.5),
            ("bore_diameter", 3.0),
            ("length", 15.0),
        ],
    ),
    p(
        "a 6 mm hex standoff with a 3 mm hole, 20 mm long",
        "hex_standoff",
        &[
            ("across_flats", 6.0),
            ("bore_diameter", 3.0),
            ("length", 20.0),
        ],
    ),
    p(
        "a wheel 60 mm diameter 10 mm thick, with a hub 20 mm in diameter sticking out 8 mm, and a 5 mm bore",
        "pulley",
        &[
            ("diameter", 60.0),
            ("width", 10.0),
            ("hub_diameter", 20.0),
            ("hub_length", 8.0),
            ("bore_diameter", 5.0),
        ],
    ),
    p(
        "a 16 DP spur gear with 24 teeth, 0.5 inch wide",
        "spur_gear",
        &[
            ("module", IN / 16.0),
            ("teeth", 24.0),
            ("pressure_angle", 20.0),
            ("face_width", 0.5 * IN),
        ],
    ),
    p(
        "a bolt M8 40mm",
        "hex_bolt",
        &[
            ("metric_size", 8.0),
            ("shank_diameter", 8.0),
            ("length", 40.0),
            ("across_flats", 13.0),
            ("head_height", 5.3),
        ],
    ),
    p(
        "a 100 mm square plate, 3 mm thick, with a 10 mm hole in the middle",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 100.0),
            ("height", 3.0),
            ("hole_diameter", 10.0),
            ("hole_count", 1.0),
        ],
    ),
    p(
        "a plate 100x60x5 with two rows of three 5 mm holes",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 60.0),
            ("height", 5.0),
            ("hole_diameter", 5.0),
            ("hole_count", 6.0),
            ("grid_columns", 3.0),
            ("grid_rows", 2.0),
        ],
    ),
    p(
        "a block 40x40x20 with four 3 mm blind holes 5 mm deep in a 20 x 20 mm square",
        "plate_with_holes",
        &[
            ("length", 40.0),
            ("width", 40.0),
            ("height", 20.0),
            ("hole_diameter", 3.0),
            ("hole_count", 4.0),
            ("hole_depth", 5.0),
            ("pattern_length", 20.0),
            ("pattern_width", 20.0),
        ],
    ),
    p(
        "a plate 100 x 100 x 10 with 4 holes 6 mm diameter on an 80 mm square pattern",
        "plate_with_holes",
        &[
            ("length", 100.0),
            ("width", 100.0),
            ("height", 10.0),
            ("hole_diameter", 6.0),
            ("hole_count", 4.0),
            ("pattern_length", 80.0),
            ("pattern_width", 80.0),
        ],
    ),
    p(
        "a cylinder 30 mm diameter 60 long with a 10 mm hole through its length",
        "tube",
        &[
            ("outer_diameter", 30.0),
            ("inner_diameter", 10.0),
            ("length", 60.0),
        ],
    ),
    p(
        "a 20 mm square bar 100 mm long",
        "box",
        &[("length", 100.0), ("width", 20.0), ("height", 20.0)],
    ),
];

#[test]
fn every_phrasing_yields_its_entry_and_exact_parameters() {
    use worker::offline_planner::OfflinePlanner;

    assert!(PHRASINGS.len() >= 60, "{} phrasings", PHRASINGS.len());
    let mut failures = Vec::new();
    for phrasing in PHRASINGS {
        let plan = match OfflinePlanner.plan(phrasing.prompt) {
            Ok(plan) => plan,
            Err(error) => {
                failures.push(format!("{}: {} {}", phrasing.prompt, error.code, error));
                continue;
            }
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
        let same_parameters = plan.parameters.len() == phrasing.parameters.len()
            && phrasing.parameters.iter().all(|(name, value)| {
                plan.parameters
                    .get(*name)
                    .is_some_and(|v| close(*v, *value))
            });
        if plan.entry != phrasing.entry || !same_parameters {
            failures.push(format!(
                "{}: got {} {:?}, want {} {:?}",
                phrasing.prompt, plan.entry, plan.parameters, phrasing.entry, phrasing.parameters
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_catalogue_entry_has_phrasings() {
    for entry in worker::offline_planner::CATALOGUE {
        let count = PHRASINGS.iter().filter(|p| p.entry == entry.name).count();
        assert!(count >= 2, "{}: {count} phrasings", entry.name);
        let example = worker::offline_planner::OfflinePlanner
            .plan(entry.example)
            .unwrap_or_else(|e| panic!("the example of {}: {e}", entry.name));
        assert_eq!(example.entry, entry.name, "{}", entry.example);
    }
}
