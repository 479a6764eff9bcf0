//! The offline planner's catalogue as users see it: each part's name, what it makes and an
//! example sentence the planner understands. The worker plans from it; the gateway offers
//! the examples (`GET /api/v1/catalogue`, the page's suggestions).

use serde::Serialize;
use utoipa::ToSchema;

/// One entry of the catalogue, as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Entry {
    pub name: &'static str,
    /// What it makes, in a few words.
    pub what: &'static str,
    /// A sentence the planner understands.
    pub example: &'static str,
}

/// Every part the offline planner makes.
pub const CATALOGUE: &[Entry] = &[
    Entry {
        name: "box",
        what: "box, block, cuboid, plate or cube",
        example: "a box 100 x 50 x 30 mm with 3 mm fillets",
    },
    Entry {
        name: "cylinder",
        what: "cylinder, rod, disc or puck",
        example: "a cylinder 40 mm in diameter and 25 mm tall",
    },
    Entry {
        name: "sphere",
        what: "sphere or ball",
        example: "a sphere of radius 15 mm",
    },
    Entry {
        name: "cone",
        what: "cone or truncated cone",
        example: "a truncated cone, base diameter 40, top diameter 20, 30 mm high",
    },
    Entry {
        name: "torus",
        what: "torus, ring or O-ring",
        example: "a torus with major radius 30 mm and minor radius 5 mm",
    },
    Entry {
        name: "tube",
        what: "tube, pipe, sleeve or bushing",
        example: "a tube 30 mm OD with a 2 mm wall, 100 mm long",
    },
    Entry {
        name: "plate_with_holes",
        what: "plate or block with holes: centred, at the corners, on a rectangle, in a row or a \
               grid; through, blind, countersunk or counterbored; or along the length",
        example: "a plate 100x60x5 mm with four 6 mm holes at the corners 8 mm from the edges",
    },
    Entry {
        name: "block_with_pocket",
        what: "block with a rectangular pocket or a blind hole",
        example: "a block 60x40x30 mm with a 30x20x10 mm pocket",
    },
    Entry {
        name: "l_bracket",
        what: "L-bracket or shelf bracket: two legs, a thickness, holes in each leg, gussets",
        example: "an L-bracket 60x40x5 mm, 30 mm wide, with a 6 mm hole in each leg",
    },
    Entry {
        name: "flange",
        what: "flange: outer and inner diameter, thickness, bolt holes on a pitch circle",
        example: "a flange 120 mm OD, 60 mm bore, 12 mm thick with 6 holes of 10 mm on a 90 mm pitch circle",
    },
    Entry {
        name: "washer",
        what: "flat washer, from an M size (ISO 7089) or its diameters",
        example: "an M8 washer",
    },
    Entry {
        name: "hex_nut",
        what: "hex nut M3 to M24 (ISO 4032, plain bore, no thread)",
        example: "a hex nut M10",
    },
    Entry {
        name: "spacer",
        what: "spacer or standoff, from an M size or its diameters",
        example: "an M4 spacer 12 mm long",
    },
    Entry {
        name: "enclosure",
        what: "open-top enclosure or project box: outside size, wall and floor, optional lid",
        example: "a project box 120 x 80 x 40 mm with 2 mm walls and a lid",
    },
    Entry {
        name: "spur_gear",
        what: "spur gear: module or diametral pitch, teeth, face width, bore (involute profile)",
        example: "a spur gear, module 2, 24 teeth, 10 mm wide with an 8 mm bore",
    },
    Entry {
        name: "hex_bolt",
        what: "hex bolt blank M3 to M24 (ISO 4017 head, plain shank, no thread)",
        example: "an M8 x 40 hex bolt",
    },
    Entry {
        name: "plate_with_slots",
        what: "plate with obround slots, along or across it",
        example: "a plate 120 x 60 x 5 mm with two 30 x 8 mm slots",
    },
    Entry {
        name: "stepped_shaft",
        what: "stepped shaft: each section's diameter and length, in order",
        example: "a stepped shaft: 20 mm diameter 50 mm long, then 12 mm diameter 30 mm long",
    },
    Entry {
        name: "pulley",
        what: "wheel or flat-faced pulley with a bore and an optional hub",
        example: "a pulley 60 mm in diameter, 20 mm wide, with a 25 mm hub 10 mm long and an 8 mm bore",
    },
    Entry {
        name: "hex_standoff",
        what: "hex standoff M2 to M8 (plain bore, no thread)",
        example: "an M3 hex standoff 20 mm long",
    },
];
