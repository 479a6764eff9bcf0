//! Every catalogue entry, planned from a prompt and built in real FreeCAD with at least two
//! parameter sets: the measured volume and bounding box match the plan's exact formulas
//! within 0.5 %, and the result is valid with the planned number of solids (one, or two
//! for an enclosure with its lid).

use futures::StreamExt;
use shared::job::OutputFormat;
use worker::agents::{generator::script_for, validator};
use worker::freecad::FreecadRunner;
use worker::offline_planner::{CATALOGUE, OfflinePlanner};

/// Tighter than the validator's 1 % on volume: the formulas are exact.
const TOLERANCE: f64 = 0.005;
/// FreeCAD runs at once; the machine is small and shared.
const CONCURRENCY: usize = 2;

const PROMPTS: &[&str] = &[
    "a box 100x50x30 mm",
    "a box 100x50x30 mm with 4 mm fillets",
    "a block 60 x 40 x 20 mm with 2 mm chamfers on all edges",
    "a 1 inch cube",
    "a cylinder 40 mm in diameter and 25 mm tall",
    "a cylinder Ø40 x 25 with 3 mm fillets",
    "a block 80 x 60 x 40 mm with 3 mm fillets on its vertical edges only",
    "a 50 mm cube with 2 mm chamfers along the top edges",
    "box 100x50x30, round the bottom edges with a 5 mm fillet",
    "a slab 200x100x20 with 4 mm fillets on the horizontal edges",
    "a plate 120 x 80 x 10 mm, 2 mm chamfer on the top and bottom edges",
    "a cylinder 40 mm in diameter and 25 mm tall with a 2 mm chamfer on the top rim",
    "a disc 60 mm across, 10 mm thick, with the bottom edge rounded 1.5 mm",
    "a disc 60 mm in diameter, 2 mm thick, with 0.5 mm fillets",
    "an o-ring 40 mm OD with a 3 mm cross section",
    "a torus with major radius 50 mm and minor radius 1.5 mm",
    "a washer 6.4 mm ID, 12 mm OD, 0.5 mm thick",
    "a foil 100 x 100 x 0.05 mm",
    "a disc 4 cm diameter, 1 cm thick with 1.5 mm chamfers",
    "a sphere 50 mm in diameter",
    "a ball of radius 7.5 mm",
    "a cone 40 mm diameter, 60 mm tall",
    "a truncated cone, base diameter 40, top diameter 20, 30 mm high",
    "a torus with major radius 30 mm and minor radius 5 mm",
    "an o-ring 50 mm OD with a 4 mm cross section",
    "a tube 30 mm OD with a 2 mm wall, 100 mm long",
    "a pipe with an outer diameter of 1 1/2\" and a wall of 1/8\", 6\" long",
    "a plate 100x60x5 mm with four 6 mm holes at the corners 8 mm from the edges",
    "a block 60x40x30 mm with a 10 mm hole through the middle",
    "a bar 200 x 30 x 10 mm with 3 holes in a row 50 mm apart, 8 mm diameter",
    "a plate 120x80x3 with a 3x2 grid of 5 mm holes",
    "a plate 100x50x5 mm with four M5 mounting holes and 2 mm fillets",
    "a block 60x40x30 mm with a 30x20x10 mm pocket",
    "a block 50x50x20 with a 20 mm blind hole 8 mm deep",
    "a block 60x40x30 with a 30x20x10 pocket and 3 mm chamfers",
    "an L-bracket 60x40x5 mm, 30 mm wide, with a 6 mm hole in each leg",
    "an angle bracket 50 x 50 x 3, 40 wide, with two M4 holes per leg",
    "an L shaped bracket, length 80, height 60, thickness 6, width 50",
    "a flange 120 mm OD, 60 mm bore, 12 mm thick with 6 holes of 10 mm on a 90 mm pitch circle",
    "a flange 150 OD, 80 ID, 15 thick with 8 M12 holes on a PCD of 120",
    "an M8 washer",
    "an M3 washer",
    "a washer 10.5 mm ID, 22 mm OD, 2 mm thick",
    "a hex nut M3",
    "an M24 hex nut",
    "a hex nut 13 mm across flats, 6.8 mm high with an 8 mm bore",
    "an M4 spacer 12 mm long",
    "a standoff for M3, 10 mm OD, 20 mm long",
    "a project box 120 x 80 x 40 mm with 2 mm walls and a lid",
    "an open-top box 100x60x30 mm, walls 3 mm thick, 4 mm floor",
    "a spur gear, module 2, 24 teeth, 10 mm wide with an 8 mm bore",
    "a gear with 36 teeth, 12 diametral pitch, 1/2 inch face width, 1/4\" bore",
    "a spur gear, module 1, 9 teeth, 5 mm thick",
    "an M8 x 40 hex bolt",
    "an M3 bolt 10 mm long",
    "a plate 120 x 60 x 5 mm with two 30 x 8 mm slots",
    "a plate 200x100x10 with four 10 mm wide, 50 mm long slots running crosswise",
    "a plate 100x60x6 mm with four countersunk M5 holes at the corners",
    "a 120 x 80 x 10 plate with 4 counterbored holes for M6 screws, 10 mm from the edges",
    "a plate 100 x 100 x 8 with 4 holes of 6.6 mm, countersunk to 13 mm, on a 70 x 70 mm rectangle",
    "a stepped shaft: 20 mm diameter 50 mm long, then 12 mm diameter 30 mm long",
    "a turned shaft 40 mm diameter 20 mm long, stepping down to 25 mm diameter for 60 mm and then 15 mm diameter for 30 mm",
    "a pulley 60 mm in diameter, 20 mm wide, with a 25 mm hub 10 mm long and an 8 mm bore",
    "a wheel 100 mm diameter, 25 mm thick with a 10 mm bore",
    "an M3 hex standoff 20 mm long",
    "a hex spacer M2.5 x 12",
    "a shelf bracket 150 x 100 x 5 mm, 40 mm wide, with a 6 mm hole in each leg",
    "an L-bracket 80x60x6 mm, 50 mm wide, with a 30 mm gusset in the middle and two 6 mm holes in each leg",
    "a block 80 x 40 x 40 mm with a 10 mm hole through the 80 mm length",
    "a block 60x40x30 with an 8 mm hole drilled front to back",
    "a plate 100x50x10 with four 5 mm holes 6 mm deep at the corners",
    "a plate 100 x 100 x 5 with a 3 x 3 grid of 5 mm holes, 30 x 25 mm apart",
    "a block 40x40x20 with four 3 mm blind holes 5 mm deep in a 20 x 20 mm square",
    "an enclosure with internal dimensions 100 x 60 x 30 and 2 mm walls",
    "a wheel with a hub: 80 mm diameter, 20 mm wide, hub 30 mm diameter x 25 mm long, 8 mm bore",
    // Cross holes: the wide ones take 3-4 % less than a straight hole 2R long would, so the
    // measured volume checks the cross-hole integral, not just the body.
    "a cylinder Ø40 x 60 with a 6 mm hole drilled across it 20 mm from the top",
    "a 20 mm rod 40 mm long with a 16 mm cross hole",
    "a shaft 30 mm in diameter, 80 mm long, with 1 mm chamfers on both ends and a 24 mm transverse hole 20 mm from the bottom",
];

/// A warm pool of two sandboxed FreeCAD processes, as a worker runs them.
async fn runner() -> FreecadRunner {
    crate::helpers::runner_with(&[("FREECAD_POOL_SIZE", "2"), ("JOB_TIMEOUT_SECONDS", "120")]).await
}

fn relative(measured: f64, expected: f64) -> f64 {
    ((measured - expected) / expected).abs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_builds_in_freecad_to_its_exact_geometry() {
    for entry in CATALOGUE {
        let planned = PROMPTS
            .iter()
            .filter(|p| {
                OfflinePlanner
                    .plan(p)
                    .is_ok_and(|plan| plan.entry == entry.name)
            })
            .count();
        assert!(planned >= 2, "{}: {planned} prompts", entry.name);
    }

    let runner = runner().await;
    let results: Vec<(&str, Result<(), String>)> = futures::stream::iter(PROMPTS)
        .map(|prompt| {
            let runner = &runner;
            async move {
                let offline = OfflinePlanner
                    .plan(prompt)
                    .unwrap_or_else(|e| panic!("{prompt}: {e}"));
                let script = script_for(&offline.part);
                let outcome = match runner.run(&script, &[OutputFormat::Step]).await {
                    Ok(outcome) => outcome,
                    Err(error) => return (*prompt, Err(format!("FreeCAD failed: {error}"))),
                };
                let measured = &outcome.geometry;
                let expected = &offline.plan.expected;
                let volume = expected.volume.unwrap();
                let bbox = expected.bbox.unwrap();
                let mut problems = Vec::new();
                // One solid, or as many as the plan says (an enclosure and its lid).
                if !(measured.valid && Some(measured.solids) == expected.solids) {
                    problems.push(format!(
                        "valid {} with {} solids",
                        measured.valid, measured.solids
                    ));
                }
                if relative(measured.volume, volume) > TOLERANCE {
                    problems.push(format!(
                        "volume {} mm^3, expected {volume}",
                        measured.volume
                    ));
                }
                // A meshed shape's box is widened by the mesh; the plan says by how much.
                let allowance = expected.bbox_allowance_mm.unwrap_or(0.0);
                if (0..3).any(|axis| {
                    relative(measured.bbox[axis], bbox[axis]) > TOLERANCE
                        && (measured.bbox[axis] - bbox[axis]).abs() > allowance
                }) {
                    problems.push(format!("bbox {:?}, expected {bbox:?}", measured.bbox));
                }
                let validation = validator::validate(measured, expected);
                if !validation.approved {
                    problems.push(format!("not approved: {:?}", validation.feedback));
                }
                let result = if problems.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} ({})",
                        problems.join("; "),
                        offline.plan.summary
                    ))
                };
                (*prompt, result)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let failures: Vec<String> = results
        .iter()
        .filter_map(|(prompt, result)| result.as_ref().err().map(|e| format!("{prompt}: {e}")))
        .collect();
    assert_eq!(results.len(), PROMPTS.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
