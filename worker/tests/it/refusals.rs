//! Prompts outside the catalogue, ambiguous or impossible: the right error code, never a part.

use worker::offline_planner::OfflinePlanner;

const REFUSALS: &[(&str, &str)] = &[
    // outside the catalogue
    ("a car", "unsupported_prompt"),
    ("a worm gear with 20 teeth", "unsupported_prompt"),
    ("a threaded M6 bolt 30 mm long", "unsupported_prompt"),
    ("a set screw M4 x 6", "unsupported_prompt"),
    (
        "a V pulley 60 mm diameter, 20 mm wide with a groove",
        "unsupported_prompt",
    ),
    ("design me a nice teapot", "unsupported_prompt"),
    ("", "unsupported_prompt"),
    ("a box 100x50x30 with a 10 mm keyway", "unsupported_prompt"),
    ("an M7 bolt 30 mm long", "unsupported_prompt"),
    (
        "a V-belt pulley 60 mm diameter, 12 mm wide",
        "unsupported_prompt",
    ),
    ("a socket head cap screw M6 x 20", "unsupported_prompt"),
    ("a hex box 10x10x10", "unsupported_prompt"),
    (
        "a project box 100x60x30 with 2 mm walls and a snap fit lid",
        "unsupported_prompt",
    ),
    (
        "a male-female M3 hex standoff 10 mm long",
        "unsupported_prompt",
    ),
    ("a hex standoff M3 x 10 with a slot", "unsupported_prompt"),
    ("a cube with a sphere on top", "unsupported_prompt"),
    (
        "a sphere 20 mm in diameter with 2 mm fillets",
        "unsupported_prompt",
    ),
    (
        "a flange 100 mm OD, 40 mm bore, 10 mm thick with 4 countersunk M8 holes",
        "unsupported_prompt",
    ),
    (
        "a cylinder 40 mm in diameter, 20 mm tall with a 6 mm hole front to back",
        "unsupported_prompt",
    ),
    (
        "a sphere 40 mm in diameter with a hub",
        "unsupported_prompt",
    ),
    ("a box 100x50x30 with a lid", "unsupported_prompt"),
    ("an M7 washer", "unsupported_prompt"),
    ("an M30 hex nut", "unsupported_prompt"),
    (
        "a disc 60 mm diameter 5 mm thick with 4 holes at the corners",
        "unsupported_prompt",
    ),
    ("a wedge 50 x 20 x 10 at 30 degrees", "unsupported_prompt"),
    // qualifiers the plan cannot honour are refused, never dropped
    (
        "a box 100x50x30 with 3 mm fillets on the front edges only",
        "unsupported_prompt",
    ),
    (
        "a cube 40 mm with 2 mm chamfers on all edges except the bottom",
        "unsupported_prompt",
    ),
    (
        "a cylinder 40 mm in diameter, 20 mm tall with 2 mm fillets on the vertical edges",
        "unsupported_prompt",
    ),
    (
        "a cylinder 30 mm diameter 50 long, 1 mm chamfer at one end",
        "unsupported_prompt",
    ),
    (
        "a plate 100x60x5 mm with a 10 mm hole offset from the centre",
        "unsupported_prompt",
    ),
    (
        "a block 80x40x40 mm with four 10 mm holes at the corners, front to back",
        "ambiguous_prompt",
    ),
    (
        "a block 100x40x40 mm with a 8 mm hole along its length, 20 mm deep",
        "unsupported_prompt",
    ),
    (
        "a block 80 x 40 x 40 mm with a 10 mm hole through the 60 mm length",
        "ambiguous_prompt",
    ),
    (
        "a plate 100x60x5 mm with four 6 mm holes at the corners, angled",
        "unsupported_prompt",
    ),
    (
        "a box 50x50x50 mm with 2 mm fillets on the top and vertical edges",
        "unsupported_prompt",
    ),
    (
        "a sphere 40 mm in diameter, only the upper half",
        "unsupported_prompt",
    ),
    (
        "a block 50x50x20 with a 10 mm hole halfway through",
        "unsupported_prompt",
    ),
    ("a box 100x50x30 without the top", "unsupported_prompt"),
    // a size missing or conflicting
    ("a box", "ambiguous_prompt"),
    ("a gear with 20 teeth", "ambiguous_prompt"),
    ("a box 100x50x30 with a 10 mm slot", "ambiguous_prompt"),
    ("a plate 100x60x5 with three 40 mm legs", "ambiguous_prompt"),
    (
        "a shelf bracket 150 x 100 x 5 mm with 3 gussets",
        "ambiguous_prompt",
    ),
    (
        "a stepped shaft 20 mm diameter 50 mm long",
        "ambiguous_prompt",
    ),
    ("a project box 100 x 60 x 30 mm", "ambiguous_prompt"),
    (
        "a plate 100x60x5 with four 6 mm holes, countersunk",
        "ambiguous_prompt",
    ),
    ("a box 100x50", "ambiguous_prompt"),
    ("a cylinder 25 mm tall", "ambiguous_prompt"),
    ("a cylinder 40 mm in diameter", "ambiguous_prompt"),
    (
        "a cylinder diameter 40 radius 30 height 10",
        "ambiguous_prompt",
    ),
    ("a plate 100x50 with 3 holes of 8 mm", "ambiguous_prompt"),
    ("a plate 100x50x5 with holes", "ambiguous_prompt"),
    ("a plate 100x50x5 with 4 holes", "ambiguous_prompt"),
    ("a box 100x50x30 mm, 12 mm", "ambiguous_prompt"),
    ("a tube 30 mm OD, 100 mm long", "ambiguous_prompt"),
    ("a washer", "ambiguous_prompt"),
    (
        "an L-bracket 60x40x5 with three 6 mm holes",
        "ambiguous_prompt",
    ),
    (
        "a flange 100 mm OD, 40 mm bore, 10 mm thick",
        "ambiguous_prompt",
    ),
    ("a box 100x50x30 with rounded edges", "ambiguous_prompt"),
    (
        "a 20 mm cube with 2 mm fillets and 1 mm chamfers",
        "ambiguous_prompt",
    ),
    (
        "a plate 100x50x5 with five holes at the corners, 6 mm",
        "ambiguous_prompt",
    ),
    // impossible sizes
    (
        "a plate 100x50x5 with 3 holes of 80 mm",
        "invalid_dimensions",
    ),
    (
        "a plate 100x50x5 with four 6 mm holes 2 mm from the edges",
        "invalid_dimensions",
    ),
    ("a box 0x50x30", "invalid_dimensions"),
    (
        "a tube 20 mm OD, 30 mm ID, 50 mm long",
        "invalid_dimensions",
    ),
    (
        "a torus with major radius 5 and minor radius 10",
        "invalid_dimensions",
    ),
    (
        "a block 50x50x20 with a 20 mm blind hole 25 mm deep",
        "invalid_dimensions",
    ),
    (
        "a flange 100 OD, 40 ID, 10 thick with 12 holes of 20 mm",
        "invalid_dimensions",
    ),
    (
        "an L-bracket 60x40x5, 30 wide, with a 40 mm hole in each leg",
        "invalid_dimensions",
    ),
    (
        "an enclosure 50 x 40 x 30 mm with 25 mm walls",
        "invalid_dimensions",
    ),
    (
        "a spur gear, module 2, 20 teeth, 10 mm wide, with a 40 mm bore",
        "invalid_dimensions",
    ),
    (
        "a plate 100x60x5 with a 6 mm hole counterbored 10 mm diameter, 6 mm deep",
        "invalid_dimensions",
    ),
    (
        "a pulley 40 mm in diameter, 10 mm wide, with a 50 mm hub 10 mm long",
        "invalid_dimensions",
    ),
];

#[test]
fn refused_prompts_get_the_right_code_and_never_a_part() {
    assert!(REFUSALS.len() >= 15);
    let mut failures = Vec::new();
    for (prompt, code) in REFUSALS {
        match OfflinePlanner.plan(prompt) {
            Ok(plan) => failures.push(format!("{prompt}: planned {}", plan.plan.summary)),
            Err(error) if error.code.as_str() != *code => {
                failures.push(format!("{prompt}: {} ({error}), want {code}", error.code))
            }
            Err(error) => {
                // Every refusal explains itself: what was understood, what is needed.
                assert!(error.message.len() > 40, "{prompt}: {error}");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_unsupported_prompt_names_the_words_briefly_with_close_examples() {
    let error = OfflinePlanner
        .plan("a worm gear with 20 teeth")
        .unwrap_err();
    assert!(error.message.contains("'worm gear'"), "{}", error.message);
    assert!(error.message.contains("For example"), "{}", error.message);
    assert!(error.message.len() < 300, "{}", error.message);
    let error = OfflinePlanner
        .plan("a box 100x50x30 with 3 mm fillets on the front edges only")
        .unwrap_err();
    assert!(
        error.message.contains("'front'") && error.message.contains("'only'"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("a box 100 x 50 x 30 mm"),
        "{}",
        error.message
    );
    assert!(error.message.len() < 300, "{}", error.message);
}
