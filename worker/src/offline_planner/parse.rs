//! Quantities, labels and counts: what a prompt says ("100x50x5 mm", "four 6 mm holes",
//! "40 mm in diameter", "M6"), read from its tokens before any catalogue entry is chosen.
//!
//! Every number ends up as exactly one [`Found`] item; a catalogue entry takes the items it
//! understands, and anything it leaves is reported, so a number is never silently ignored.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::prompt::{Token, tokenize};
use super::{PlanError, fmt};
use shared::error_code::ErrorCode;

/// A size the prompt names, in millimetres.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Length,
    Width,
    Height,
    Thickness,
    Depth,
    Diameter,
    Radius,
    OuterDiameter,
    InnerDiameter,
    OuterRadius,
    InnerRadius,
    Wall,
    TopDiameter,
    TopRadius,
    BaseDiameter,
    BaseRadius,
    MajorDiameter,
    MajorRadius,
    MinorDiameter,
    MinorRadius,
    PitchCircleDiameter,
    Pitch,
    Margin,
    AcrossFlats,
    Side,
    HoleDiameter,
    HoleRadius,
    PocketDiameter,
    Fillet,
    Chamfer,
    /// A gear's number of teeth (a count, not mm).
    Teeth,
    /// A gear's module (mm of pitch diameter per tooth).
    Module,
    /// A gear's diametral pitch (teeth per inch of pitch diameter).
    DiametralPitch,
    /// Degrees.
    PressureAngle,
    /// Degrees, with no other label.
    Angle,
    SlotLength,
    SlotWidth,
    HubDiameter,
    HubLength,
    /// A counterbore's or countersink's diameter at the top face.
    HeadDiameter,
    /// A counterbore's depth.
    HeadDepth,
    /// A bolt head's height.
    HeadHeight,
    GussetSize,
    GussetThickness,
    /// The thickness of an enclosure's floor.
    Floor,
    /// The centre distances of a rectangle of holes, along the length and the width.
    PatternLength,
    PatternWidth,
    /// Where a cross hole's centre is: "20 mm from the top", "15 mm from the bottom".
    FromTop,
    FromBottom,
}

impl Quantity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::Width => "width",
            Self::Height => "height",
            Self::Thickness => "thickness",
            Self::Depth => "depth",
            Self::Diameter => "diameter",
            Self::Radius => "radius",
            Self::OuterDiameter => "outer diameter",
            Self::InnerDiameter => "inner diameter",
            Self::OuterRadius => "outer radius",
            Self::InnerRadius => "inner radius",
            Self::Wall => "wall thickness",
            Self::TopDiameter => "top diameter",
            Self::TopRadius => "top radius",
            Self::BaseDiameter => "base diameter",
            Self::BaseRadius => "base radius",
            Self::MajorDiameter => "major diameter",
            Self::MajorRadius => "major radius",
            Self::MinorDiameter => "minor diameter",
            Self::MinorRadius => "minor radius",
            Self::PitchCircleDiameter => "pitch circle diameter",
            Self::Pitch => "hole spacing",
            Self::Margin => "edge margin",
            Self::AcrossFlats => "width across flats",
            Self::Side => "side",
            Self::HoleDiameter => "hole diameter",
            Self::HoleRadius => "hole radius",
            Self::PocketDiameter => "pocket diameter",
            Self::Fillet => "fillet radius",
            Self::Chamfer => "chamfer size",
            Self::Teeth => "tooth count",
            Self::Module => "module",
            Self::DiametralPitch => "diametral pitch",
            Self::PressureAngle => "pressure angle",
            Self::Angle => "angle",
            Self::SlotLength => "slot length",
            Self::SlotWidth => "slot width",
            Self::HubDiameter => "hub diameter",
            Self::HubLength => "hub length",
            Self::HeadDiameter => "head diameter",
            Self::HeadDepth => "head depth",
            Self::HeadHeight => "head height",
            Self::GussetSize => "gusset size",
            Self::GussetThickness => "gusset thickness",
            Self::Floor => "floor thickness",
            Self::PatternLength => "hole pattern length",
            Self::PatternWidth => "hole pattern width",
            Self::FromTop => "distance from the top",
            Self::FromBottom => "distance from the bottom",
        }
    }

    /// The unit a value of this quantity is given in, for messages.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Teeth | Self::DiametralPitch => "",
            Self::PressureAngle | Self::Angle => " degrees",
            _ => " mm",
        }
    }
}

/// A feature cut into or finishing a part; it gives meaning to nearby sizes
/// ("a hole, 6 mm in diameter" is the hole's diameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Hole,
    Bore,
    Pocket,
    Fillet,
    Chamfer,
    /// An obround slot.
    Slot,
    /// The hub of a wheel or pulley.
    Hub,
    /// A triangular rib in a bracket's corner.
    Gusset,
    /// A counterbore or countersink: sizes next to it are the head's.
    Head,
    /// A bolt's hexagonal head.
    BoltHead,
}

impl Feature {
    /// What a bare size next to the feature means ("6 mm holes", "2 mm fillets").
    fn primary(self) -> Option<Quantity> {
        match self {
            Self::Hole => Some(Quantity::HoleDiameter),
            Self::Bore => Some(Quantity::InnerDiameter),
            Self::Pocket => None,
            Self::Fillet => Some(Quantity::Fillet),
            Self::Chamfer => Some(Quantity::Chamfer),
            Self::Slot => Some(Quantity::SlotWidth),
            Self::Hub => Some(Quantity::HubDiameter),
            Self::Gusset => Some(Quantity::GussetSize),
            Self::Head => Some(Quantity::HeadDiameter),
            Self::BoltHead => None,
        }
    }

    /// A generic label read in the feature's context.
    fn refine(self, quantity: Quantity) -> Quantity {
        use Quantity as Q;
        match (self, quantity) {
            (Self::Hole, Q::Diameter) => Q::HoleDiameter,
            (Self::Hole, Q::Radius) => Q::HoleRadius,
            (Self::Bore, Q::Diameter) => Q::InnerDiameter,
            (Self::Bore, Q::Radius) => Q::InnerRadius,
            (Self::Pocket, Q::Diameter) => Q::PocketDiameter,
            (Self::Fillet, Q::Radius | Q::Side) => Q::Fillet,
            (Self::Chamfer, Q::Side | Q::Length | Q::Width) => Q::Chamfer,
            (Self::Slot, Q::Length) => Q::SlotLength,
            (Self::Slot, Q::Width | Q::Diameter) => Q::SlotWidth,
            (Self::Hub, Q::Diameter | Q::OuterDiameter) => Q::HubDiameter,
            (Self::Hub, Q::Length | Q::Height | Q::Thickness | Q::Width | Q::Depth) => Q::HubLength,
            (Self::Gusset, Q::Thickness) => Q::GussetThickness,
            (Self::Gusset, Q::Length | Q::Height | Q::Side) => Q::GussetSize,
            (Self::Head, Q::Diameter | Q::Radius) => Q::HeadDiameter,
            (Self::Head, Q::Depth) => Q::HeadDepth,
            (Self::BoltHead, Q::Height | Q::Thickness) => Q::HeadHeight,
            (_, q) => q,
        }
    }
}

/// Where holes go, when the prompt says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrangement {
    Centred,
    Corners,
    /// "in each corner": one hole (or the count given) per corner.
    EachCorner,
    Row,
    Grid,
    /// "in each leg", "per leg": counts are per leg of a bracket.
    PerLeg,
    /// "on a 80 x 40 rectangle": four holes at the corners of a centred rectangle.
    Rectangle,
}

/// A word that says where or how a feature applies (which edges, which face, which axis,
/// "only", "except"). The reader records every one; the chosen entry must honour each (take
/// it), or the prompt is refused naming the words: a qualifier is never silently dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    Top,
    Bottom,
    Vertical,
    Horizontal,
    /// "both ends", "each end": both rims of a round part.
    BothEnds,
    /// "end" ("at one end": "one" is read as a number): which end is not said.
    OneEnd,
    Only,
    /// "except", "without", "not", "no": a part with something left out.
    Except,
    /// A face or side named for a feature: "front", "back", "left", "right", "face".
    Face,
    /// A direction for holes: "along", "lengthwise", "front to back", "horizontally".
    Direction,
    /// A position away from the plain one: "offset", "off centre", "diagonal", "staggered".
    Offset,
    /// An angle: "angled", "tilted", "inclined".
    Angle,
    /// A partial extent: "halfway", "partway", "partially".
    Partial,
    /// "countersunk": holes with a 90° cone at the top face.
    Countersunk,
    /// "counterbored": holes with a wider flat-bottomed recess at the top face.
    Counterbored,
    /// "inside dimensions", "80 x 50 x 25 inside": sizes of the hollow, not the outside.
    Inside,
}

/// What a qualifier is about: the edges (near "edges", "rim", a fillet or a chamfer), a
/// feature, or the part itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Edges,
    Feature(Feature),
    Part,
}

/// One qualifier word of the prompt, where it applies, and whether the plan honoured it.
#[derive(Debug, Clone, PartialEq)]
pub struct QualifierUse {
    pub qualifier: Qualifier,
    pub scope: Scope,
    /// The words as written ("vertical", "front to back").
    pub words: String,
    /// For a direction: the size it runs along ("along its length", "front to back" is the
    /// width, "through the 80 mm length").
    pub along: Option<Quantity>,
    pub honoured: bool,
}

/// One thing the prompt said about sizes or counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A labelled size: "height 30", "40 mm in diameter", "6 mm holes".
    Value(Quantity, f64),
    /// Sizes joined by `x` / `by` ("100x50x30"), for the feature it belongs to, if any.
    Group(Vec<f64>, Option<Feature>),
    /// A size with no label ("a 20 mm cube"), for the feature it belongs to, if any.
    Bare(f64, Option<Feature>),
    /// How many holes ("four holes", "4x Ø6").
    Count(f64),
    /// How many of something other than holes ("two slots", "three 40 mm legs"), with the
    /// feature counted when it is one the catalogue knows.
    CountOf(f64, Option<Feature>),
    /// The size a direction names: "through the 80 mm length" is `Along(Length, 80)`.
    Along(Quantity, f64),
    /// How many rows of holes ("two rows of three holes").
    Rows(f64),
    /// A grid of holes, columns by rows ("a 3x2 grid").
    Grid(f64, f64),
    /// A metric size ("M6"), for the feature it belongs to, if any.
    Metric(f64, Option<Feature>),
}

impl Found {
    fn describe(&self) -> String {
        match self {
            Found::Value(q, v) => format!("{} {}{}", q.name(), fmt(*v), q.unit()),
            Found::CountOf(n, Some(f)) => format!("{} {f:?}s", fmt(*n)).to_lowercase(),
            Found::CountOf(n, None) => format!("a count of {}", fmt(*n)),
            Found::Along(q, v) => format!("through the {} mm {}", fmt(*v), q.name()),
            Found::Rows(n) => format!("{} rows", fmt(*n)),
            Found::Group(values, feature) => {
                let sizes: Vec<String> = values.iter().map(|v| fmt(*v)).collect();
                match feature {
                    Some(f) => format!("{} mm for the {f:?}", sizes.join(" x ")).to_lowercase(),
                    None => format!("{} mm", sizes.join(" x ")),
                }
            }
            Found::Bare(v, _) => format!("{} mm", fmt(*v)),
            Found::Count(n) => format!("{} holes", fmt(*n)),
            Found::Grid(columns, rows) => format!("a {} x {} grid", fmt(*columns), fmt(*rows)),
            Found::Metric(m, _) => format!("M{}", fmt(*m)),
        }
    }
}

/// Everything a prompt said, ready for a catalogue entry to take from.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Canonical part nouns in the order they appear.
    pub nouns: Vec<&'static str>,
    pub features: Vec<Feature>,
    /// "holes" rather than "hole": a count is needed.
    pub plural_holes: bool,
    /// Features named in the plural ("gussets", "slots").
    pub plural: Vec<Feature>,
    /// "blind hole": a hole with a bottom.
    pub blind: bool,
    /// "with a lid": an enclosure's separate lid.
    pub lid: bool,
    pub arrangements: Vec<Arrangement>,
    /// Words naming something the catalogue cannot make ("thread", "gear", "slot").
    pub unsupported: Vec<String>,
    /// Every qualifier word, in order; each must be honoured by the plan.
    pub qualifiers: Vec<QualifierUse>,
    /// What the prompt says that is not geometry: "material: aluminium", "purpose: a shelf",
    /// "process: 3D printed". Recorded in the plan, never a reason to refuse.
    pub notes: Vec<String>,
    found: Vec<Found>,
    taken: Vec<bool>,
}

/// The class of a canonical word.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Part(&'static str),
    Feature(Feature, bool),
    Label(Quantity),
    Arrangement(Arrangement),
    Blind,
    Filler,
    /// "with", "having", "plus": starts a new feature phrase.
    With,
    /// "and": a phrase boundary that keeps the feature context.
    And,
    Unsupported,
    Qualifier(Qualifier),
    /// "edges", "edge", "rim", "rims": makes the qualifiers of its phrase about edges.
    EdgeWord,
    /// "through": a filler, except before "the 80 mm length".
    Through,
    /// "for": a filler, or the start of what the part is for ("for a shelf").
    For,
    /// A material ("aluminium") or a way of making ("3D printed"): recorded, not geometry.
    Note(NoteKind),
    /// "lid": an enclosure's separate lid.
    Lid,
    /// "rows": "two rows of three holes" is a grid.
    Rows,
    Other,
    /// A word of no class that looks plural ("sections", "legs"): a count before it counts it.
    Plural,
}

/// What a word that is not geometry tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    Material,
    Process,
}

/// Multi-word phrases and synonyms, longest first where they overlap.
const PHRASES: &[(&str, Class)] = {
    use crate::offline_planner::parse::Arrangement as A;
    use crate::offline_planner::parse::Feature as F;
    use crate::offline_planner::parse::Qualifier as QF;
    use crate::offline_planner::parse::Quantity as Q;
    use Class::*;
    &[
        // parts
        ("shelf bracket", Part("shelf_bracket")),
        ("shelf support", Part("shelf_bracket")),
        ("l shaped bracket", Part("bracket")),
        ("l bracket", Part("bracket")),
        ("angle bracket", Part("bracket")),
        ("corner bracket", Part("bracket")),
        ("bracket", Part("bracket")),
        ("hexagon nut", Part("nut")),
        ("hexagonal nut", Part("nut")),
        ("hex nut", Part("nut")),
        ("hex standoff", Part("hex_standoff")),
        ("hex stand off", Part("hex_standoff")),
        ("hexagonal standoff", Part("hex_standoff")),
        ("hexagonal stand off", Part("hex_standoff")),
        ("hexagon standoff", Part("hex_standoff")),
        ("hex spacer", Part("hex_standoff")),
        ("hex body", Part("hex_standoff")),
        ("hexagonal body", Part("hex_standoff")),
        ("hexagonal spacer", Part("hex_standoff")),
        ("hex head bolt", Part("bolt")),
        ("hex head screw", Part("bolt")),
        ("hexagon head bolt", Part("bolt")),
        ("hexagon head screw", Part("bolt")),
        ("hex bolt", Part("bolt")),
        ("hex screw", Part("bolt")),
        ("hexagon bolt", Part("bolt")),
        ("hexagonal bolt", Part("bolt")),
        ("bolt blank", Part("bolt")),
        ("screw blank", Part("bolt")),
        ("machine screw", Part("bolt")),
        ("set screw", Unsupported),
        ("shoulder bolt", Unsupported),
        ("flange bolt", Unsupported),
        ("flange nut", Unsupported),
        ("thumb screw", Unsupported),
        ("self tapping", Unsupported),
        ("cheese head", Unsupported),
        ("round head", Unsupported),
        ("square head", Unsupported),
        ("square nut", Unsupported),
        ("wing nut", Unsupported),
        ("lock nut", Unsupported),
        ("cap nut", Unsupported),
        ("t nut", Unsupported),
        ("spring washer", Unsupported),
        ("lock washer", Unsupported),
        ("v belt", Unsupported),
        ("v pulley", Unsupported),
        ("v groove", Unsupported),
        ("timing pulley", Unsupported),
        ("toothed pulley", Unsupported),
        ("snap fit", Unsupported),
        ("sliding lid", Unsupported),
        ("hinged lid", Unsupported),
        ("screw posts", Unsupported),
        ("screw post", Unsupported),
        ("grub screw", Unsupported),
        ("cap screw", Unsupported),
        ("socket head", Unsupported),
        ("wood screw", Unsupported),
        ("pan head", Unsupported),
        ("button head", Unsupported),
        ("flat head", Unsupported),
        ("carriage bolt", Unsupported),
        ("eye bolt", Unsupported),
        ("u bolt", Unsupported),
        ("worm gear", Unsupported),
        ("bevel gear", Unsupported),
        ("helical gear", Unsupported),
        ("rack", Unsupported),
        ("internal gear", Unsupported),
        ("ring gear", Unsupported),
        ("bolt", Part("bolt")),
        ("bolts", Part("bolt")),
        ("screw", Part("bolt")),
        ("screws", Part("bolt")),
        ("spur gear", Part("gear")),
        ("gear wheel", Part("gear")),
        ("gearwheel", Part("gear")),
        ("cog wheel", Part("gear")),
        ("cogwheel", Part("gear")),
        ("gear", Part("gear")),
        ("cog", Part("gear")),
        ("pinion", Part("gear")),
        ("belt pulley", Part("pulley")),
        ("pulley", Part("pulley")),
        ("wheel", Part("pulley")),
        ("project box", Part("enclosure")),
        ("open top box", Part("enclosure")),
        ("open topped box", Part("enclosure")),
        ("open box", Part("enclosure")),
        ("open top", Part("enclosure")),
        ("open topped", Part("enclosure")),
        ("hollow box", Part("enclosure")),
        ("enclosure", Part("enclosure")),
        ("case", Part("enclosure")),
        ("tray", Part("enclosure")),
        ("container", Part("enclosure")),
        ("housing", Part("enclosure")),
        ("stepped shaft", Part("stepped_shaft")),
        ("step shaft", Part("stepped_shaft")),
        ("stepped", Part("stepped_shaft")),
        ("shouldered", Part("stepped_shaft")),
        ("step", Part("stepped_shaft")),
        ("steps", Part("stepped_shaft")),
        ("nut", Part("nut")),
        ("flat washer", Part("washer")),
        ("plain washer", Part("washer")),
        ("washer", Part("washer")),
        ("stand off", Part("spacer")),
        ("standoff", Part("spacer")),
        ("spacer", Part("spacer")),
        ("flange", Part("flange")),
        ("hollow cylinder", Part("tube")),
        ("hollow rod", Part("tube")),
        ("tube", Part("tube")),
        ("pipe", Part("tube")),
        ("sleeve", Part("tube")),
        ("bushing", Part("tube")),
        ("o ring", Part("torus")),
        ("torus", Part("torus")),
        ("donut", Part("torus")),
        ("doughnut", Part("torus")),
        ("ring", Part("ring")),
        ("truncated cone", Part("frustum")),
        ("cone frustum", Part("frustum")),
        ("frustum", Part("frustum")),
        ("cone", Part("cone")),
        ("sphere", Part("sphere")),
        ("ball", Part("sphere")),
        ("round bar", Part("cylinder")),
        ("cylinder", Part("cylinder")),
        ("rod", Part("cylinder")),
        ("disc", Part("cylinder")),
        ("disk", Part("cylinder")),
        ("puck", Part("cylinder")),
        ("dowel", Part("cylinder")),
        ("shaft", Part("cylinder")),
        ("cube", Part("cube")),
        ("rectangular prism", Part("box")),
        ("box", Part("box")),
        ("block", Part("box")),
        ("cuboid", Part("box")),
        ("brick", Part("box")),
        ("plate", Part("box")),
        ("slab", Part("box")),
        ("sheet", Part("box")),
        ("foil", Part("box")),
        ("panel", Part("box")),
        ("tile", Part("box")),
        ("base plate", Part("box")),
        ("baseplate", Part("box")),
        ("flat bar", Part("box")),
        ("strip", Part("box")),
        ("plank", Part("box")),
        ("board", Part("box")),
        ("bar", Part("box")),
        // features
        ("blind holes", Feature(F::Hole, true)),
        ("blind hole", Feature(F::Hole, false)),
        ("through holes", Feature(F::Hole, true)),
        ("through hole", Feature(F::Hole, false)),
        ("thru holes", Feature(F::Hole, true)),
        ("thru hole", Feature(F::Hole, false)),
        ("bolt holes", Feature(F::Hole, true)),
        ("bolt hole", Feature(F::Hole, false)),
        ("mounting holes", Feature(F::Hole, true)),
        ("mounting hole", Feature(F::Hole, false)),
        ("screw holes", Feature(F::Hole, true)),
        ("screw hole", Feature(F::Hole, false)),
        ("clearance holes", Feature(F::Hole, true)),
        ("clearance hole", Feature(F::Hole, false)),
        ("fixing holes", Feature(F::Hole, true)),
        ("fixing hole", Feature(F::Hole, false)),
        ("holes", Feature(F::Hole, true)),
        ("hole", Feature(F::Hole, false)),
        ("centre bore", Feature(F::Bore, false)),
        ("center bore", Feature(F::Bore, false)),
        ("bore", Feature(F::Bore, false)),
        ("slotted holes", Feature(F::Slot, true)),
        ("slotted hole", Feature(F::Slot, false)),
        ("obround holes", Feature(F::Slot, true)),
        ("obround hole", Feature(F::Slot, false)),
        ("elongated holes", Feature(F::Slot, true)),
        ("elongated hole", Feature(F::Slot, false)),
        ("slots", Feature(F::Slot, true)),
        ("slot", Feature(F::Slot, false)),
        ("slotted", Feature(F::Slot, false)),
        ("hubs", Feature(F::Hub, true)),
        ("hub", Feature(F::Hub, false)),
        ("gussets", Feature(F::Gusset, true)),
        ("gusset", Feature(F::Gusset, false)),
        ("gusseted", Feature(F::Gusset, false)),
        ("ribs", Feature(F::Gusset, true)),
        ("rib", Feature(F::Gusset, false)),
        ("stiffeners", Feature(F::Gusset, true)),
        ("stiffener", Feature(F::Gusset, false)),
        ("head", Feature(F::BoltHead, false)),
        ("pocket", Feature(F::Pocket, false)),
        ("recess", Feature(F::Pocket, false)),
        ("cavity", Feature(F::Pocket, false)),
        ("rounded edges", Feature(F::Fillet, false)),
        ("rounded corners", Feature(F::Fillet, false)),
        ("round edges", Feature(F::Fillet, false)),
        ("radiused edges", Feature(F::Fillet, false)),
        ("fillets", Feature(F::Fillet, false)),
        ("fillet", Feature(F::Fillet, false)),
        ("filleted", Feature(F::Fillet, false)),
        ("rounded", Feature(F::Fillet, false)),
        ("chamfers", Feature(F::Chamfer, false)),
        ("chamfer", Feature(F::Chamfer, false)),
        ("chamfered", Feature(F::Chamfer, false)),
        ("bevelled", Feature(F::Chamfer, false)),
        ("beveled", Feature(F::Chamfer, false)),
        ("bevel", Feature(F::Chamfer, false)),
        ("blind", Blind),
        // labels
        ("outer diameter", Label(Q::OuterDiameter)),
        ("outside diameter", Label(Q::OuterDiameter)),
        ("external diameter", Label(Q::OuterDiameter)),
        ("outer dia", Label(Q::OuterDiameter)),
        ("o d", Label(Q::OuterDiameter)),
        ("od", Label(Q::OuterDiameter)),
        ("inner diameter", Label(Q::InnerDiameter)),
        ("inside diameter", Label(Q::InnerDiameter)),
        ("internal diameter", Label(Q::InnerDiameter)),
        ("inner dia", Label(Q::InnerDiameter)),
        ("i d", Label(Q::InnerDiameter)),
        ("id", Label(Q::InnerDiameter)),
        ("outer radius", Label(Q::OuterRadius)),
        ("outside radius", Label(Q::OuterRadius)),
        ("inner radius", Label(Q::InnerRadius)),
        ("inside radius", Label(Q::InnerRadius)),
        ("wall thickness", Label(Q::Wall)),
        ("floor thickness", Label(Q::Floor)),
        ("base thickness", Label(Q::Floor)),
        ("bottom thickness", Label(Q::Floor)),
        ("floor", Label(Q::Floor)),
        ("base", Label(Q::Floor)),
        ("number of teeth", Label(Q::Teeth)),
        ("tooth count", Label(Q::Teeth)),
        ("teeth", Label(Q::Teeth)),
        ("tooth", Label(Q::Teeth)),
        ("module", Label(Q::Module)),
        ("mod", Label(Q::Module)),
        ("diametral pitch", Label(Q::DiametralPitch)),
        ("dp", Label(Q::DiametralPitch)),
        ("pressure angle", Label(Q::PressureAngle)),
        ("degrees", Label(Q::Angle)),
        ("degree", Label(Q::Angle)),
        ("deg", Label(Q::Angle)),
        ("face width", Label(Q::Width)),
        ("head height", Label(Q::HeadHeight)),
        ("countersink diameter", Label(Q::HeadDiameter)),
        ("counterbore diameter", Label(Q::HeadDiameter)),
        ("counterbore depth", Label(Q::HeadDepth)),
        ("hub diameter", Label(Q::HubDiameter)),
        ("hub length", Label(Q::HubLength)),
        ("sticking out", Label(Q::Length)),
        ("protruding", Label(Q::Length)),
        ("projecting", Label(Q::Length)),
        ("proud", Label(Q::Length)),
        ("slot length", Label(Q::SlotLength)),
        ("slot width", Label(Q::SlotWidth)),
        ("on a side", Label(Q::Side)),
        ("on each side", Label(Q::Side)),
        ("per side", Label(Q::Side)),
        ("square", Label(Q::Side)),
        ("walls", Label(Q::Wall)),
        ("wall", Label(Q::Wall)),
        ("top diameter", Label(Q::TopDiameter)),
        ("tip diameter", Label(Q::TopDiameter)),
        ("small diameter", Label(Q::TopDiameter)),
        ("upper diameter", Label(Q::TopDiameter)),
        ("top radius", Label(Q::TopRadius)),
        ("bottom diameter", Label(Q::BaseDiameter)),
        ("base diameter", Label(Q::BaseDiameter)),
        ("large diameter", Label(Q::BaseDiameter)),
        ("lower diameter", Label(Q::BaseDiameter)),
        ("bottom radius", Label(Q::BaseRadius)),
        ("base radius", Label(Q::BaseRadius)),
        ("major diameter", Label(Q::MajorDiameter)),
        ("major radius", Label(Q::MajorRadius)),
        ("minor diameter", Label(Q::MinorDiameter)),
        ("cross section diameter", Label(Q::MinorDiameter)),
        ("cross section", Label(Q::MinorDiameter)),
        ("section diameter", Label(Q::MinorDiameter)),
        ("tube diameter", Label(Q::MinorDiameter)),
        ("cord diameter", Label(Q::MinorDiameter)),
        ("minor radius", Label(Q::MinorRadius)),
        ("tube radius", Label(Q::MinorRadius)),
        ("section radius", Label(Q::MinorRadius)),
        ("pitch circle diameter", Label(Q::PitchCircleDiameter)),
        ("pitch circle", Label(Q::PitchCircleDiameter)),
        ("pitch diameter", Label(Q::PitchCircleDiameter)),
        ("bolt circle diameter", Label(Q::PitchCircleDiameter)),
        ("bolt circle", Label(Q::PitchCircleDiameter)),
        ("bolt pattern", Label(Q::PitchCircleDiameter)),
        ("p c d", Label(Q::PitchCircleDiameter)),
        ("pcd", Label(Q::PitchCircleDiameter)),
        ("centre to centre", Label(Q::Pitch)),
        ("center to center", Label(Q::Pitch)),
        ("apart", Label(Q::Pitch)),
        ("spacing", Label(Q::Pitch)),
        ("pitch", Label(Q::Pitch)),
        ("centres", Label(Q::Pitch)),
        ("centers", Label(Q::Pitch)),
        ("in from the edges", Label(Q::Margin)),
        ("from the top", Label(Q::FromTop)),
        ("from its top", Label(Q::FromTop)),
        ("from the top end", Label(Q::FromTop)),
        ("below the top", Label(Q::FromTop)),
        ("down from the top", Label(Q::FromTop)),
        ("from the bottom", Label(Q::FromBottom)),
        ("from its bottom", Label(Q::FromBottom)),
        ("from the bottom end", Label(Q::FromBottom)),
        ("from the base", Label(Q::FromBottom)),
        ("above the bottom", Label(Q::FromBottom)),
        ("above the base", Label(Q::FromBottom)),
        ("up from the bottom", Label(Q::FromBottom)),
        ("from the edges", Label(Q::Margin)),
        ("from the edge", Label(Q::Margin)),
        ("from each edge", Label(Q::Margin)),
        ("from the sides", Label(Q::Margin)),
        ("from the side", Label(Q::Margin)),
        ("from edges", Label(Q::Margin)),
        ("from edge", Label(Q::Margin)),
        ("edge distance", Label(Q::Margin)),
        ("edge margin", Label(Q::Margin)),
        ("margin", Label(Q::Margin)),
        ("inset", Label(Q::Margin)),
        ("across the flats", Label(Q::AcrossFlats)),
        ("across flats", Label(Q::AcrossFlats)),
        ("a f", Label(Q::AcrossFlats)),
        ("af", Label(Q::AcrossFlats)),
        ("wrench size", Label(Q::AcrossFlats)),
        ("side length", Label(Q::Side)),
        ("edge length", Label(Q::Side)),
        ("side", Label(Q::Side)),
        ("sides", Label(Q::Side)),
        ("size", Label(Q::Side)),
        ("length", Label(Q::Length)),
        ("long", Label(Q::Length)),
        ("len", Label(Q::Length)),
        ("l", Label(Q::Length)),
        ("width", Label(Q::Width)),
        ("wide", Label(Q::Width)),
        ("breadth", Label(Q::Width)),
        ("w", Label(Q::Width)),
        ("height", Label(Q::Height)),
        ("high", Label(Q::Height)),
        ("tall", Label(Q::Height)),
        ("h", Label(Q::Height)),
        ("thickness", Label(Q::Thickness)),
        ("thick", Label(Q::Thickness)),
        ("t", Label(Q::Thickness)),
        ("depth", Label(Q::Depth)),
        ("deep", Label(Q::Depth)),
        ("diameter", Label(Q::Diameter)),
        ("diam", Label(Q::Diameter)),
        ("dia", Label(Q::Diameter)),
        ("d", Label(Q::Diameter)),
        ("across", Label(Q::Diameter)),
        ("radius", Label(Q::Radius)),
        ("rad", Label(Q::Radius)),
        ("r", Label(Q::Radius)),
        // arrangements
        ("in each corner", Arrangement(A::EachCorner)),
        ("at each corner", Arrangement(A::EachCorner)),
        ("in every corner", Arrangement(A::EachCorner)),
        ("each corner", Arrangement(A::EachCorner)),
        ("at the corners", Arrangement(A::Corners)),
        ("in the corners", Arrangement(A::Corners)),
        ("near the corners", Arrangement(A::Corners)),
        ("at the four corners", Arrangement(A::Corners)),
        ("corners", Arrangement(A::Corners)),
        ("corner", Arrangement(A::Corners)),
        ("rows", Rows),
        ("in a row", Arrangement(A::Row)),
        ("in a line", Arrangement(A::Row)),
        ("in line", Arrangement(A::Row)),
        ("inline", Arrangement(A::Row)),
        ("along the length", Arrangement(A::Row)),
        ("row", Arrangement(A::Row)),
        ("grid", Arrangement(A::Grid)),
        ("rectangular pattern", Arrangement(A::Rectangle)),
        ("rectangular hole pattern", Arrangement(A::Rectangle)),
        ("square pattern", Arrangement(A::Rectangle)),
        ("rectangle", Arrangement(A::Rectangle)),
        ("array", Arrangement(A::Grid)),
        ("matrix", Arrangement(A::Grid)),
        ("in the middle", Arrangement(A::Centred)),
        ("in the centre", Arrangement(A::Centred)),
        ("in the center", Arrangement(A::Centred)),
        ("through the middle", Arrangement(A::Centred)),
        ("through the centre", Arrangement(A::Centred)),
        ("through the center", Arrangement(A::Centred)),
        ("through its centre", Arrangement(A::Centred)),
        ("through its center", Arrangement(A::Centred)),
        ("through it", Arrangement(A::Centred)),
        ("centred", Arrangement(A::Centred)),
        ("centered", Arrangement(A::Centred)),
        ("central", Arrangement(A::Centred)),
        ("centre", Arrangement(A::Centred)),
        ("center", Arrangement(A::Centred)),
        ("middle", Arrangement(A::Centred)),
        ("in each leg", Arrangement(A::PerLeg)),
        ("on each leg", Arrangement(A::PerLeg)),
        ("in both legs", Arrangement(A::PerLeg)),
        ("on both legs", Arrangement(A::PerLeg)),
        ("in each arm", Arrangement(A::PerLeg)),
        ("per leg", Arrangement(A::PerLeg)),
        ("each leg", Arrangement(A::PerLeg)),
        ("both legs", Arrangement(A::PerLeg)),
        // structure
        ("with", With),
        ("having", With),
        ("plus", With),
        ("featuring", With),
        ("and", And),
        // words that may sit between a number and what it measures
        ("evenly spaced", Filler),
        ("equally spaced", Filler),
        ("spaced", Filler),
        ("on all edges", Filler),
        ("on all the edges", Filler),
        ("on every edge", Filler),
        ("on the edges", Filler),
        ("on the outer edges", Filler),
        ("outer edges", Filler),
        ("all edges", Filler),
        ("all the edges", Filler),
        ("every edge", Filler),
        ("edges", EdgeWord),
        ("edge", EdgeWord),
        ("rims", EdgeWord),
        ("rim", EdgeWord),
        // qualifiers: each must be honoured by the plan or refuse the prompt
        ("top", Qualifier(QF::Top)),
        ("upper", Qualifier(QF::Top)),
        ("bottom", Qualifier(QF::Bottom)),
        ("lower", Qualifier(QF::Bottom)),
        ("underside", Qualifier(QF::Bottom)),
        ("vertical", Qualifier(QF::Vertical)),
        ("vertically", Qualifier(QF::Vertical)),
        ("upright", Qualifier(QF::Vertical)),
        ("horizontal", Qualifier(QF::Horizontal)),
        ("horizontally", Qualifier(QF::Horizontal)),
        ("both ends", Qualifier(QF::BothEnds)),
        ("each end", Qualifier(QF::BothEnds)),
        ("either end", Qualifier(QF::BothEnds)),
        ("end", Qualifier(QF::OneEnd)),
        ("ends", Qualifier(QF::BothEnds)),
        ("only", Qualifier(QF::Only)),
        ("just", Qualifier(QF::Only)),
        ("solely", Qualifier(QF::Only)),
        ("except", Qualifier(QF::Except)),
        ("excluding", Qualifier(QF::Except)),
        ("but not", Qualifier(QF::Except)),
        ("other than", Qualifier(QF::Except)),
        ("apart from", Qualifier(QF::Except)),
        ("without", Qualifier(QF::Except)),
        ("not", Qualifier(QF::Except)),
        ("no", Qualifier(QF::Except)),
        ("front to back", Qualifier(QF::Direction)),
        ("back to front", Qualifier(QF::Direction)),
        ("side to side", Qualifier(QF::Direction)),
        ("left to right", Qualifier(QF::Direction)),
        ("end to end", Qualifier(QF::Direction)),
        ("along", Qualifier(QF::Direction)),
        ("lengthwise", Qualifier(QF::Direction)),
        ("lengthways", Qualifier(QF::Direction)),
        ("longitudinal", Qualifier(QF::Direction)),
        ("longitudinally", Qualifier(QF::Direction)),
        ("crosswise", Qualifier(QF::Direction)),
        ("crossways", Qualifier(QF::Direction)),
        ("transverse", Qualifier(QF::Direction)),
        ("sideways", Qualifier(QF::Direction)),
        ("radial", Qualifier(QF::Direction)),
        ("radially", Qualifier(QF::Direction)),
        ("axial", Qualifier(QF::Direction)),
        ("axially", Qualifier(QF::Direction)),
        ("perpendicular", Qualifier(QF::Direction)),
        ("parallel", Qualifier(QF::Direction)),
        ("front", Qualifier(QF::Face)),
        ("back", Qualifier(QF::Face)),
        ("rear", Qualifier(QF::Face)),
        ("left", Qualifier(QF::Face)),
        ("right", Qualifier(QF::Face)),
        ("face", Qualifier(QF::Face)),
        ("faces", Qualifier(QF::Face)),
        ("offset", Qualifier(QF::Offset)),
        ("off centre", Qualifier(QF::Offset)),
        ("off center", Qualifier(QF::Offset)),
        ("eccentric", Qualifier(QF::Offset)),
        ("diagonal", Qualifier(QF::Offset)),
        ("diagonally", Qualifier(QF::Offset)),
        ("staggered", Qualifier(QF::Offset)),
        ("opposite", Qualifier(QF::Offset)),
        ("angled", Qualifier(QF::Angle)),
        ("tilted", Qualifier(QF::Angle)),
        ("inclined", Qualifier(QF::Angle)),
        ("slanted", Qualifier(QF::Angle)),
        ("countersunk", Qualifier(QF::Countersunk)),
        ("counter sunk", Qualifier(QF::Countersunk)),
        ("countersink", Qualifier(QF::Countersunk)),
        ("countersinks", Qualifier(QF::Countersunk)),
        ("csk", Qualifier(QF::Countersunk)),
        ("counterbored", Qualifier(QF::Counterbored)),
        ("counter bored", Qualifier(QF::Counterbored)),
        ("counterbore", Qualifier(QF::Counterbored)),
        ("counterbores", Qualifier(QF::Counterbored)),
        ("cbore", Qualifier(QF::Counterbored)),
        ("top to bottom", Qualifier(QF::Vertical)),
        ("cross drilled", Qualifier(QF::Direction)),
        ("drilled across", Qualifier(QF::Direction)),
        ("across it", Qualifier(QF::Direction)),
        ("cross", Qualifier(QF::Direction)),
        ("inside dimensions", Qualifier(QF::Inside)),
        ("internal dimensions", Qualifier(QF::Inside)),
        ("inner dimensions", Qualifier(QF::Inside)),
        ("interior dimensions", Qualifier(QF::Inside)),
        ("inside size", Qualifier(QF::Inside)),
        ("internal size", Qualifier(QF::Inside)),
        ("outside dimensions", Filler),
        ("outer dimensions", Filler),
        ("external dimensions", Filler),
        ("overall dimensions", Filler),
        ("outside size", Filler),
        ("halfway", Qualifier(QF::Partial)),
        ("partway", Qualifier(QF::Partial)),
        ("part way", Qualifier(QF::Partial)),
        ("partially", Qualifier(QF::Partial)),
        ("in", Filler),
        ("of", Filler),
        ("is", Filler),
        ("are", Filler),
        ("a", Filler),
        ("an", Filler),
        ("the", Filler),
        ("at", Filler),
        ("on", Filler),
        ("to", Filler),
        ("for", For),
        ("lid", Lid),
        ("shank", Filler),
        ("blank", Filler),
        ("unthreaded", Filler),
        ("each", Filler),
        ("all", Filler),
        ("around", Filler),
        ("about", Filler),
        ("total", Filler),
        ("overall", Filler),
        ("its", Filler),
        ("it", Filler),
        ("that", Filler),
        ("which", Filler),
        ("mm", Filler),
        ("through", Through),
        ("thru", Through),
        ("running", Through),
        ("runs", Through),
        ("run", Through),
        ("full", Filler),
        ("entire", Filler),
        ("whole", Filler),
        ("round", Filler),
        ("circular", Filler),
        ("plain", Filler),
        ("flat", Filler),
        ("metric", Filler),
        ("solid", Filler),
        ("simple", Filler),
        // not geometry: recorded in the plan, never a reason to refuse
        ("stainless steel", Note(NoteKind::Material)),
        ("mild steel", Note(NoteKind::Material)),
        ("carbon fibre", Note(NoteKind::Material)),
        ("carbon fiber", Note(NoteKind::Material)),
        ("aluminium", Note(NoteKind::Material)),
        ("aluminum", Note(NoteKind::Material)),
        ("steel", Note(NoteKind::Material)),
        ("stainless", Note(NoteKind::Material)),
        ("brass", Note(NoteKind::Material)),
        ("bronze", Note(NoteKind::Material)),
        ("copper", Note(NoteKind::Material)),
        ("titanium", Note(NoteKind::Material)),
        ("plastic", Note(NoteKind::Material)),
        ("abs", Note(NoteKind::Material)),
        ("pla", Note(NoteKind::Material)),
        ("petg", Note(NoteKind::Material)),
        ("nylon", Note(NoteKind::Material)),
        ("delrin", Note(NoteKind::Material)),
        ("acetal", Note(NoteKind::Material)),
        ("hdpe", Note(NoteKind::Material)),
        ("polycarbonate", Note(NoteKind::Material)),
        ("acrylic", Note(NoteKind::Material)),
        ("wood", Note(NoteKind::Material)),
        ("wooden", Note(NoteKind::Material)),
        ("plywood", Note(NoteKind::Material)),
        ("mdf", Note(NoteKind::Material)),
        ("rubber", Note(NoteKind::Material)),
        ("resin", Note(NoteKind::Material)),
        ("3d printed", Note(NoteKind::Process)),
        ("3d printing", Note(NoteKind::Process)),
        ("3d printable", Note(NoteKind::Process)),
        ("3d print", Note(NoteKind::Process)),
        ("3d printer", Note(NoteKind::Process)),
        ("printed", Note(NoteKind::Process)),
        ("printable", Note(NoteKind::Process)),
        ("machined", Note(NoteKind::Process)),
        ("cnc machined", Note(NoteKind::Process)),
        ("cnc", Note(NoteKind::Process)),
        ("laser cut", Note(NoteKind::Process)),
        ("milled", Note(NoteKind::Process)),
        ("turned", Note(NoteKind::Process)),
        ("injection moulded", Note(NoteKind::Process)),
        ("injection molded", Note(NoteKind::Process)),
        ("outer", Label(Q::OuterDiameter)),
        ("outside", Label(Q::OuterDiameter)),
        ("inner", Label(Q::InnerDiameter)),
        ("inside", Label(Q::InnerDiameter)),
        // what the catalogue cannot make: naming one must never yield a simpler part
        ("hollow", Unsupported),
        ("hex", Part("hex_shape")),
        ("hexagon", Part("hex_shape")),
        ("hexagonal", Part("hex_shape")),
        ("thread", Unsupported),
        ("threaded", Unsupported),
        ("threads", Unsupported),
        ("tapped", Unsupported),
        ("groove", Unsupported),
        ("grooves", Unsupported),
        ("keyway", Unsupported),
        ("spline", Unsupported),
        ("knurled", Unsupported),
        ("sprocket", Unsupported),
        ("spring", Unsupported),
        ("helix", Unsupported),
        ("hinge", Unsupported),
        ("rivet", Unsupported),
        ("wedge", Unsupported),
        ("pyramid", Unsupported),
        ("prism", Unsupported),
        ("hemisphere", Unsupported),
        ("dome", Unsupported),
        ("ellipsoid", Unsupported),
        ("star", Unsupported),
        ("text", Unsupported),
        ("letters", Unsupported),
        ("logo", Unsupported),
        ("engraved", Unsupported),
        ("embossed", Unsupported),
        ("rib", Unsupported),
        ("ribs", Unsupported),
        ("boss", Unsupported),
        ("open", Unsupported),
        ("shell", Unsupported),
        ("handle", Unsupported),
        ("hook", Unsupported),
        ("knob", Unsupported),
        ("clip", Unsupported),
        ("tapered", Unsupported),
        ("taper", Unsupported),
        ("cutout", Unsupported),
        ("notch", Unsupported),
        ("sketch", Unsupported),
        ("assembly", Unsupported),
        ("car", Unsupported),
        ("house", Unsupported),
        ("vase", Unsupported),
        ("cup", Unsupported),
        ("mug", Unsupported),
        ("bottle", Unsupported),
        ("chair", Unsupported),
        ("table", Unsupported),
        ("phone", Unsupported),
        ("teapot", Unsupported),
        ("propeller", Unsupported),
        ("wing", Unsupported),
        ("lag", Unsupported),
        ("torx", Unsupported),
        ("allen", Unsupported),
        ("phillips", Unsupported),
        ("nyloc", Unsupported),
        ("acorn", Unsupported),
        ("male", Unsupported),
        ("worm", Unsupported),
        ("herringbone", Unsupported),
        ("sheave", Unsupported),
        ("grooved", Unsupported),
        ("crowned", Unsupported),
        ("flanged", Unsupported),
        ("spokes", Unsupported),
        ("spoked", Unsupported),
        ("tyre", Unsupported),
        ("tire", Unsupported),
        ("hinged", Unsupported),
        ("vents", Unsupported),
        ("vent", Unsupported),
        ("vented", Unsupported),
        ("dividers", Unsupported),
        ("divider", Unsupported),
        ("compartments", Unsupported),
        ("lip", Unsupported),
        ("feet", Unsupported),
    ]
};

/// Every qualifier word and phrase the reader knows, for the tests that check each one is
/// honoured or refused.
#[cfg(test)]
pub fn qualifier_words() -> Vec<&'static str> {
    PHRASES
        .iter()
        .filter(|(_, class)| matches!(class, Class::Qualifier(_)))
        .map(|(phrase, _)| *phrase)
        .collect()
}

/// A phrase split into its words, with its class.
type SplitPhrase = (Vec<&'static str>, Class);

/// `PHRASES` split into words and grouped by first word, longest phrase first; built once.
static PHRASE_INDEX: LazyLock<HashMap<&'static str, Vec<SplitPhrase>>> = LazyLock::new(|| {
    let mut index: HashMap<&'static str, Vec<SplitPhrase>> = HashMap::new();
    for (phrase, class) in PHRASES {
        let words: Vec<&'static str> = phrase.split(' ').collect();
        index.entry(words[0]).or_default().push((words, *class));
    }
    for phrases in index.values_mut() {
        // Stable: among phrases of one length, the first listed wins.
        phrases.sort_by_key(|(words, _)| std::cmp::Reverse(words.len()));
    }
    index
});

/// The longest phrase of `PHRASES` that starts at `words[0]`: (class, words consumed).
fn match_phrase(words: &[&str]) -> Option<(Class, usize)> {
    PHRASE_INDEX
        .get(words.first()?)?
        .iter()
        .find_map(|(phrase, class)| {
            (phrase.len() <= words.len() && phrase[..] == words[..phrase.len()])
                .then_some((*class, phrase.len()))
        })
}

/// A token after phrases are merged.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Number { value: f64, unit: Option<f64> },
    Times,
    Diameter,
    Metric(f64),
    Break,
    Word(Class),
}

/// The items of a prompt, the words naming what the catalogue cannot make, the words of each
/// qualifier by the index of its item, and the words of no class by index (for notes).
type Items = (
    Vec<Item>,
    Vec<(usize, String)>,
    Vec<(usize, String)>,
    Vec<(usize, String)>,
);

fn items_of(tokens: &[Token]) -> Items {
    let mut items = Vec::new();
    let mut unknown: Vec<(usize, String)> = Vec::new();
    let mut qualifier_words = Vec::new();
    let mut other_words = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Number { value, unit } => items.push(Item::Number {
                value: *value,
                unit: *unit,
            }),
            Token::Times => items.push(Item::Times),
            Token::Diameter => items.push(Item::Diameter),
            Token::Metric(m) => items.push(Item::Metric(*m)),
            Token::Break => items.push(Item::Break),
            Token::Word(_) => {
                let words: Vec<&str> = tokens[i..]
                    .iter()
                    .map_while(|t| match t {
                        Token::Word(w) => Some(w.as_str()),
                        _ => None,
                    })
                    .collect();
                match match_phrase(&words) {
                    Some((class, len)) => {
                        if matches!(class, Class::Unsupported | Class::Part(_)) {
                            unknown.push((items.len(), words[..len].join(" ")));
                        }
                        if matches!(class, Class::Qualifier(_) | Class::Note(_)) {
                            qualifier_words.push((items.len(), words[..len].join(" ")));
                        }
                        items.push(Item::Word(class));
                        i += len;
                        continue;
                    }
                    None => {
                        let word = words[0];
                        let plural = word.len() > 3 && word.ends_with('s') && !word.ends_with("ss");
                        items.push(Item::Word(if plural {
                            Class::Plural
                        } else {
                            Class::Other
                        }));
                        other_words.push((items.len() - 1, words[0].to_owned()));
                    }
                }
            }
        }
        i += 1;
    }
    fitted_fasteners(&mut items);
    (items, unknown, qualifier_words, other_words)
}

/// "a washer for an M8 screw", "holes for M5 bolts": a fastener right after its M size, in a
/// prompt that names another part, is the size of what the part fits, not a part to make.
fn fitted_fasteners(items: &mut [Item]) {
    let is_bolt = |item: &Item| *item == Item::Word(Class::Part("bolt"));
    let other_part = items
        .iter()
        .any(|item| matches!(item, Item::Word(Class::Part(noun)) if *noun != "bolt"));
    let has_holes = items
        .iter()
        .any(|item| matches!(item, Item::Word(Class::Feature(Feature::Hole, _))));
    if !(other_part || has_holes) {
        return;
    }
    for k in 1..items.len() {
        if is_bolt(&items[k]) && matches!(items[k - 1], Item::Metric(_)) {
            items[k] = Item::Word(Class::Filler);
        }
    }
}

/// What a phrase (between commas, "with" and "and") is about, for its qualifiers.
#[derive(Debug, Clone, Copy, Default)]
struct PhraseTopic {
    edges: bool,
    feature: Option<Feature>,
    /// Anything besides qualifiers and fillers: a phrase of only those ("top and bottom
    /// edges") borrows the topic of the next one.
    substance: bool,
}

/// The scope of every item: the topic of its phrase.
fn scopes(items: &[Item]) -> Vec<Scope> {
    let mut phrases: Vec<(usize, usize, PhraseTopic)> = Vec::new();
    let mut start = 0;
    let mut topic = PhraseTopic::default();
    for (k, item) in items.iter().enumerate() {
        if is_boundary(item) {
            phrases.push((start, k, topic));
            start = k + 1;
            topic = PhraseTopic::default();
            continue;
        }
        match item {
            Item::Word(Class::EdgeWord) => topic.edges = true,
            Item::Word(Class::Feature(Feature::Fillet | Feature::Chamfer, _)) => {
                topic.edges = true;
                topic.substance = true;
            }
            Item::Word(Class::Feature(f, _)) => {
                topic.feature = topic.feature.or(Some(*f));
                topic.substance = true;
            }
            Item::Word(Class::Qualifier(_) | Class::Filler) => {}
            _ => topic.substance = true,
        }
    }
    phrases.push((start, items.len(), topic));
    // A phrase of qualifiers alone takes the topic of the next phrase with substance, or
    // else of the one before it.
    let topics: Vec<PhraseTopic> = phrases.iter().map(|p| p.2).collect();
    let mut scopes = vec![Scope::Part; items.len()];
    for (n, (from, to, own)) in phrases.iter().enumerate() {
        let topic = if own.substance || own.edges {
            *own
        } else {
            topics[n + 1..]
                .iter()
                .find(|t| t.substance || t.edges)
                .or_else(|| topics[..n].iter().rev().find(|t| t.substance || t.edges))
                .copied()
                .unwrap_or(*own)
        };
        let scope = if topic.edges {
            Scope::Edges
        } else {
            topic.feature.map_or(Scope::Part, Scope::Feature)
        };
        for slot in &mut scopes[*from..*to] {
            *slot = scope;
        }
    }
    scopes
}

fn is_filler(item: &Item) -> bool {
    item_feature(item).is_none()
        && matches!(
            item,
            Item::Word(
                Class::Filler
                    | Class::Blind
                    | Class::EdgeWord
                    | Class::Qualifier(_)
                    | Class::Through
                    | Class::For
                    | Class::Note(_)
                    | Class::Lid
            )
        )
}

/// The feature a word names for the sizes near it: a feature word, or "countersunk" /
/// "counterbored" (a qualifier of holes whose sizes are the head's).
fn item_feature(item: &Item) -> Option<Feature> {
    match item {
        Item::Word(Class::Feature(f, _)) => Some(*f),
        Item::Word(Class::Qualifier(Qualifier::Countersunk | Qualifier::Counterbored)) => {
            Some(Feature::Head)
        }
        _ => None,
    }
}

/// Whether the item ends the reach of a label.
fn is_boundary(item: &Item) -> bool {
    matches!(
        item,
        Item::Break | Item::Word(Class::With) | Item::Word(Class::And)
    )
}

/// The index of the first item after `index` that is not a filler.
fn next_meaningful(items: &[Item], index: usize) -> Option<usize> {
    (index + 1..items.len()).find(|&k| !is_filler(&items[k]))
}

fn previous_meaningful(items: &[Item], index: usize) -> Option<usize> {
    (0..index).rev().find(|&k| !is_filler(&items[k]))
}

fn feature_at(items: &[Item], k: Option<usize>) -> Option<Feature> {
    k.and_then(|k| item_feature(&items[k]))
}

/// The feature each item's phrase is about.
struct Contexts {
    /// The nearest feature word before the item since the last "with" ("with a hole, 10 mm in
    /// diameter": "and" and commas keep it).
    preceding: Vec<Option<Feature>>,
    /// The first feature word after the item up to the next comma, "and" or "with"
    /// ("four 6 mm holes").
    following: Vec<Option<Feature>>,
}

impl Contexts {
    fn of(items: &[Item]) -> Self {
        let mut preceding = vec![None; items.len()];
        let mut current = None;
        for (k, item) in items.iter().enumerate() {
            // A part noun ends the reach of a feature word before it: "a gusseted bracket
            // 100 x 100 x 8", "four holes on a rectangle in a plate 120 x 60 x 5".
            if matches!(item, Item::Word(Class::With | Class::Part(_))) {
                current = None;
            } else if let Some(f) = item_feature(item) {
                current = Some(f);
            }
            preceding[k] = current;
        }
        let mut following = vec![None; items.len()];
        let mut next = None;
        for (k, item) in items.iter().enumerate().rev() {
            if is_boundary(item) {
                next = None;
            } else if let Some(f) = item_feature(item) {
                next = Some(f);
            }
            following[k] = next;
        }
        Self {
            preceding,
            following,
        }
    }

    /// The context of a single size: the feature before it, else the one after it.
    fn of_single(&self, k: usize) -> Option<Feature> {
        self.preceding[k].or(self.following[k])
    }
}

fn is_count(value: f64, unit: Option<f64>) -> bool {
    unit.is_none() && value >= 0.0 && value.fract() == 0.0
}

fn is_hole_word(items: &[Item], k: Option<usize>) -> bool {
    feature_at(items, k) == Some(Feature::Hole)
}

/// "2 x 3 holes": a group of whole numbers right before plural holes is a grid.
fn is_plural_holes(items: &[Item], k: Option<usize>) -> bool {
    matches!(
        k.map(|k| &items[k]),
        Some(Item::Word(Class::Feature(Feature::Hole, true)))
    )
}

fn is_per_location(items: &[Item], k: Option<usize>) -> bool {
    matches!(
        k.map(|k| &items[k]),
        Some(Item::Word(Class::Arrangement(
            Arrangement::EachCorner | Arrangement::PerLeg
        )))
    )
}

/// Whether the unitless whole number at `index` counts holes: "4 holes", "four 6 mm holes",
/// "4 x Ø6 holes", "6 M8 bolt holes", "one in each corner".
fn counts_holes(items: &[Item], index: usize) -> bool {
    let next = next_meaningful(items, index);
    if is_hole_word(items, next) || is_per_location(items, next) {
        return true;
    }
    let next = skip_adjectives(items, next);
    if is_hole_word(items, next) {
        return true;
    }
    let mut k = match next {
        Some(k) if items[k] == Item::Times => next_meaningful(items, k),
        other => other,
    };
    // A size may sit between the count and the noun.
    let mut after_sign = false;
    if let Some(kk) = k
        && items[kk] == Item::Diameter
    {
        k = next_meaningful(items, kk);
        after_sign = true;
    }
    let after_times = next.is_some_and(|n| items[n] == Item::Times);
    match k.map(|k| &items[k]) {
        Some(Item::Number { unit: Some(_), .. }) | Some(Item::Metric(_)) => {}
        Some(Item::Number { unit: None, .. }) if after_times || after_sign => {}
        _ => return false,
    }
    let after = skip_adjectives(items, k.and_then(|k| next_meaningful(items, k)));
    is_hole_word(items, after)
}

/// Whether the unitless whole number at `index` counts something other than holes: "two
/// slots", "two 20 mm slots", "three 40 mm legs" (a count, never a size). The feature it
/// counts, when it is one: `Some(None)` for a count of something else.
fn counts_other(items: &[Item], index: usize) -> Option<Option<Feature>> {
    // "three sections", "3 steps": a count right before a noun in the plural.
    match items.get(index + 1) {
        Some(Item::Word(Class::Part("stepped_shaft"))) => return Some(None),
        Some(Item::Word(Class::Plural)) => return Some(None),
        _ => {}
    }
    let next = skip_adjectives(items, next_meaningful(items, index));
    let counted = |k: Option<usize>| match feature_at(items, k) {
        Some(f @ (Feature::Slot | Feature::Gusset)) => Some(f),
        _ => None,
    };
    if let Some(f) = counted(next) {
        return Some(Some(f));
    }
    // A size between the count and the noun: "two 20 mm slots", "three 40 mm legs", "two
    // 30 x 8 mm slots".
    let mut size = next.filter(|&k| {
        matches!(
            items[k],
            Item::Number { unit: Some(_), .. } | Item::Metric(_)
        ) || (matches!(items[k], Item::Number { .. }) && items.get(k + 1) == Some(&Item::Times))
    })?;
    while items.get(size + 1) == Some(&Item::Times)
        && matches!(items.get(size + 2), Some(Item::Number { .. }))
    {
        size += 2;
    }
    // The noun, past a few describing words and sizes: "two 10 mm thick gussets", "four
    // 10 mm wide, 50 mm long slots".
    let mut k = size;
    for _ in 0..6 {
        k = next_meaningful(items, k)?;
        match &items[k] {
            Item::Word(Class::Feature(Feature::Slot | Feature::Gusset, _)) => {
                return counted(Some(k)).map(Some);
            }
            Item::Word(Class::Feature(..)) => return None,
            Item::Word(Class::Other | Class::Plural) if k == next_meaningful(items, size)? => {
                // "three 40 mm legs": a count of something the catalogue does not know.
                return Some(counted(skip_adjectives(items, Some(k))));
            }
            Item::Word(Class::Label(_)) | Item::Number { .. } | Item::Times | Item::Break => {}
            _ => return None,
        }
    }
    None
}

/// Past up to two describing words before a noun ("six 5 mm corner holes", "4 mounting
/// holes", "two small holes"): the first item that is not one.
fn skip_adjectives(items: &[Item], mut k: Option<usize>) -> Option<usize> {
    for _ in 0..2 {
        match k.map(|k| &items[k]) {
            Some(
                Item::Word(Class::Other | Class::Plural | Class::Arrangement(_) | Class::Note(_))
                | Item::Word(Class::Qualifier(Qualifier::Countersunk | Qualifier::Counterbored)),
            ) => {
                let next = k.and_then(|k| next_meaningful(items, k));
                if is_hole_word(items, next) {
                    return next;
                }
                k = next;
            }
            _ => break,
        }
    }
    k
}

/// What a label word next to a number means, with the feature it is about.
fn label_at(items: &[Item], k: Option<usize>) -> Option<Quantity> {
    match k.map(|k| &items[k]) {
        Some(Item::Word(Class::Label(q))) => Some(*q),
        _ => None,
    }
}

/// Reads the prompt into a [`Reading`].
pub fn read(prompt: &str) -> Reading {
    let (mut items, named, qualifier_words, other_words) = items_of(&tokenize(prompt));
    let mut words_at: HashMap<usize, String> = other_words.into_iter().collect();
    words_at.extend(named.iter().cloned());
    let (purposes, in_purpose) = purposes(&mut items, &words_at);
    let unsupported = named
        .into_iter()
        .filter(|(k, _)| !in_purpose.contains(k) && items[*k] == Item::Word(Class::Unsupported))
        .map(|(_, words)| words)
        .collect();
    let contexts = Contexts::of(&items);
    let scopes = scopes(&items);
    let mut notes = Vec::new();
    let mut qualifiers = Vec::new();
    for (k, words) in qualifier_words {
        match items[k] {
            Item::Word(Class::Qualifier(qualifier)) => qualifiers.push(QualifierUse {
                qualifier,
                scope: scopes[k],
                along: direction_of(&items, k, &words),
                words,
                honoured: false,
            }),
            Item::Word(Class::Note(NoteKind::Material)) => notes.push(format!("material: {words}")),
            Item::Word(Class::Note(NoteKind::Process)) => {
                notes.push(format!("process: {}", words.replace("3d", "3D")));
            }
            _ => {}
        }
    }
    notes.extend(purposes.into_iter().map(|p| format!("purpose: {p}")));
    let mut reading = Reading {
        unsupported,
        qualifiers,
        notes,
        ..Reading::default()
    };
    let mut used_labels: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        match items[i] {
            Item::Word(Class::Part(noun)) => reading.nouns.push(noun),
            Item::Word(Class::Feature(feature, plural)) => {
                reading.features.push(feature);
                reading.plural_holes |= feature == Feature::Hole && plural;
                if plural {
                    reading.plural.push(feature);
                }
            }
            Item::Word(Class::Qualifier(Qualifier::Countersunk | Qualifier::Counterbored)) => {
                reading.features.push(Feature::Head);
            }
            Item::Word(Class::Arrangement(a)) => reading.arrangements.push(a),
            Item::Word(Class::Blind) => reading.blind = true,
            Item::Word(Class::Lid) => reading.lid = true,
            Item::Metric(m) => {
                // "M5 csk holes": the screw size is the holes', past the head's word.
                let mut next = next_meaningful(&items, i);
                if feature_at(&items, next) == Some(Feature::Head) {
                    next = next.and_then(|k| next_meaningful(&items, k));
                }
                let after = feature_at(&items, next);
                reading.push(Found::Metric(m, after.or(contexts.of_single(i))));
            }
            Item::Number { value, unit } => {
                // "6061 aluminium", "stainless 316": a grade, not a size.
                let material = |k: Option<&Item>| {
                    matches!(k, Some(Item::Word(Class::Note(NoteKind::Material))))
                };
                if unit.is_none()
                    && value.fract() == 0.0
                    && value >= 100.0
                    && (material(items.get(i + 1)) || material(i.checked_sub(1).map(|j| &items[j])))
                {
                    reading
                        .notes
                        .push(format!("material grade: {}", fmt(value)));
                    i += 1;
                    continue;
                }
                if let Some(along) = through_a_size(&items, i) {
                    // "through the 80 mm length": which way, not another size.
                    let mm = value * unit.unwrap_or(1.0);
                    reading.push(Found::Along(along, mm));
                    reading.qualifiers.push(QualifierUse {
                        qualifier: Qualifier::Direction,
                        scope: scopes[i],
                        words: format!("through the {} mm {}", fmt(mm), along.name()),
                        along: Some(along),
                        honoured: false,
                    });
                    used_labels.push(i + 1);
                    i += 2;
                    continue;
                }
                i = read_numbers(&items, &contexts, i, &mut used_labels, &mut reading);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    through_a_side(&items, &scopes, &used_labels, &mut reading);
    reading
}

/// "through its length", "running the full width": a size word no number took, right after
/// "through" / "running", names the way a hole runs.
fn through_a_side(items: &[Item], scopes: &[Scope], used: &[usize], reading: &mut Reading) {
    for (k, item) in items.iter().enumerate() {
        let along = match item {
            Item::Word(Class::Label(q @ (Quantity::Length | Quantity::Width))) => *q,
            _ => continue,
        };
        if used.contains(&k) {
            continue;
        }
        let opener = (k.saturating_sub(3)..k)
            .rev()
            .take_while(|&j| matches!(items[j], Item::Word(Class::Filler | Class::Through)))
            .find(|&j| items[j] == Item::Word(Class::Through));
        if opener.is_some() {
            reading.qualifiers.push(QualifierUse {
                qualifier: Qualifier::Direction,
                scope: scopes[k],
                words: format!("through the {}", along.name()),
                along: Some(along),
                honoured: false,
            });
        }
    }
}

/// The size a direction qualifier runs along: fixed for "front to back" (the width),
/// "lengthwise" (the length); for "along" and "through", the size named right after it
/// ("along its length").
fn direction_of(items: &[Item], k: usize, words: &str) -> Option<Quantity> {
    match words {
        "front to back" | "back to front" | "crosswise" | "crossways" | "transverse" => {
            return Some(Quantity::Width);
        }
        "side to side" | "left to right" | "end to end" | "lengthwise" | "lengthways"
        | "longitudinal" | "longitudinally" => return Some(Quantity::Length),
        "along" => {}
        _ => return None,
    }
    let next = next_meaningful(items, k)?;
    match label_at(items, Some(next)) {
        Some(q @ (Quantity::Length | Quantity::Width | Quantity::Height)) => Some(q),
        Some(Quantity::Thickness | Quantity::Depth) => Some(Quantity::Height),
        _ => None,
    }
}

/// "through the 80 mm length", "along the 60 mm width": a number between "through" /
/// "along" and a size word names the way a hole runs. The size it names, if so.
fn through_a_size(items: &[Item], k: usize) -> Option<Quantity> {
    let before = (0..k)
        .rev()
        .take(2)
        .find(|&j| !matches!(items[j], Item::Word(Class::Filler)))?;
    let opens = matches!(
        items[before],
        Item::Word(Class::Through | Class::Qualifier(Qualifier::Direction))
    );
    match items.get(k + 1) {
        Some(Item::Word(Class::Label(
            q @ (Quantity::Length | Quantity::Width | Quantity::Height | Quantity::Thickness),
        ))) if opens => Some(if *q == Quantity::Thickness {
            Quantity::Height
        } else {
            *q
        }),
        _ => None,
    }
}

/// "for a shelf", "for my garden gate", "for a car, 100 x 50 x 30": the words right after
/// "for", up to the first size or the end of the phrase, are what the part is for when they
/// start with a word ("for M6 screws" and "for 30 mm" say a size). They become fillers (a
/// part or an unsupported word there is not asked for). The purposes, and the indices of the
/// words taken.
fn purposes(items: &mut [Item], words_at: &HashMap<usize, String>) -> (Vec<String>, Vec<usize>) {
    let plain = |item: &Item| {
        matches!(
            item,
            Item::Word(
                Class::Filler
                    | Class::Other
                    | Class::Plural
                    | Class::Unsupported
                    | Class::Part(_)
                    | Class::Note(_)
            )
        )
    };
    let mut found = Vec::new();
    let mut taken = Vec::new();
    for k in 0..items.len() {
        if items[k] != Item::Word(Class::For) {
            continue;
        }
        let end = (k + 1..items.len())
            .find(|&j| !plain(&items[j]))
            .unwrap_or(items.len());
        let words: Vec<usize> = (k + 1..end).filter(|j| words_at.contains_key(j)).collect();
        if words.is_empty() {
            continue;
        }
        let mut purpose = words
            .iter()
            .map(|j| words_at[j].as_str())
            .collect::<Vec<_>>()
            .join(" ");
        // "for a raspberry pi 4": a plain number ending the phrase is part of the name.
        if let Some(&Item::Number { value, unit: None }) = items.get(end)
            && items.get(end + 1).is_none_or(is_boundary)
        {
            purpose = format!("{purpose} {}", fmt(value));
            items[end] = Item::Word(Class::Filler);
        }
        found.push(purpose);
        for &j in &words {
            items[j] = Item::Word(Class::Filler);
        }
        taken.extend(words);
    }
    (found, taken)
}

/// Reads the number (or `x`-joined group of numbers) at `start`; returns the index after it.
fn read_numbers(
    items: &[Item],
    contexts: &Contexts,
    start: usize,
    used_labels: &mut Vec<usize>,
    reading: &mut Reading,
) -> usize {
    let mut members = vec![start];
    let mut end = start + 1;
    while end + 1 < items.len()
        && items[end] == Item::Times
        && matches!(items[end + 1], Item::Number { .. })
    {
        members.push(end + 1);
        end += 2;
    }
    let raw: Vec<(f64, Option<f64>)> = members
        .iter()
        .map(|&k| match items[k] {
            Item::Number { value, unit } => (value, unit),
            _ => unreachable!("members are numbers"),
        })
        .collect();
    let after_group = next_meaningful(items, end - 1);

    let after_diameter_sign = start > 0 && items[start - 1] == Item::Diameter;
    if members.len() == 1
        && !after_diameter_sign
        && is_count(raw[0].0, raw[0].1)
        && counts_holes(items, start)
    {
        reading.push(Found::Count(raw[0].0));
        return end;
    }
    if members.len() == 1
        && is_count(raw[0].0, raw[0].1)
        && items.get(start + 1) == Some(&Item::Word(Class::Rows))
    {
        reading.push(Found::Rows(raw[0].0));
        return end;
    }
    // "on an 80 mm square pattern": the centre distances of a square of holes.
    if members.len() == 1
        && raw[0].1.is_some()
        && matches!(
            after_group.map(|k| &items[k]),
            Some(Item::Word(Class::Arrangement(Arrangement::Rectangle)))
        )
    {
        let mm = raw[0].0 * raw[0].1.unwrap_or(1.0);
        reading.push(Found::Value(Quantity::PatternLength, mm));
        reading.push(Found::Value(Quantity::PatternWidth, mm));
        return end;
    }
    if members.len() == 1
        && !after_diameter_sign
        && is_count(raw[0].0, raw[0].1)
        && let Some(counted) = counts_other(items, start)
    {
        reading.push(Found::CountOf(raw[0].0, counted));
        return end;
    }
    if members.len() == 2 && raw.iter().all(|&(v, u)| is_count(v, u)) {
        let after = items.get(after_group.unwrap_or(items.len())).cloned();
        if matches!(
            after,
            Some(Item::Word(Class::Arrangement(Arrangement::Grid)))
        ) || is_plural_holes(items, after_group)
        {
            reading.push(Found::Grid(raw[0].0, raw[1].0));
            return end;
        }
    }
    // "on an 80 x 40 mm rectangle", "80 x 40 mm apart": the centre distances of a pattern.
    if members.len() == 2
        && matches!(
            after_group.map(|k| &items[k]),
            Some(Item::Word(
                Class::Arrangement(Arrangement::Rectangle)
                    | Class::Label(Quantity::Pitch | Quantity::Side)
            ))
        )
    {
        let unit = raw.iter().rev().find_map(|(_, unit)| *unit).unwrap_or(1.0);
        if let Some(k) = after_group {
            used_labels.push(k);
        }
        reading.push(Found::Value(
            Quantity::PatternLength,
            raw[0].0 * raw[0].1.unwrap_or(unit),
        ));
        reading.push(Found::Value(
            Quantity::PatternWidth,
            raw[1].0 * raw[1].1.unwrap_or(unit),
        ));
        return end;
    }
    if members.len() == 2 && is_count(raw[0].0, raw[0].1) && is_hole_word(items, after_group) {
        // "4 x 6 mm holes": a count times a size.
        reading.push(Found::Count(raw[0].0));
        let value = raw[1].0 * raw[1].1.unwrap_or(1.0);
        reading.push(Found::Value(Quantity::HoleDiameter, value));
        return end;
    }

    // A unit written once applies to the whole group: "100 x 50 x 30 mm".
    let group_unit = raw.iter().rev().find_map(|(_, unit)| *unit);
    let values: Vec<f64> = raw
        .iter()
        .map(|&(value, unit)| value * unit.or(group_unit).unwrap_or(1.0))
        .collect();

    if members.len() == 1 {
        let found = label_single(items, contexts, start, values[0], used_labels);
        reading.push(found);
        return end;
    }
    let after_feature = feature_at(items, after_group);
    if let Some(feature) = after_feature {
        reading.push(Found::Group(values, Some(feature)));
        return end;
    }
    // "Ø40 x 25 mm high": members labelled one by one.
    let before_first = previous_meaningful(items, start);
    let first_label = match before_first.map(|k| &items[k]) {
        Some(Item::Diameter) => Some(Quantity::Diameter),
        _ => label_at(items, before_first).filter(|_| members.len() == 2),
    };
    let last_label = label_at(items, after_group).filter(|_| members.len() == 2);
    if first_label.is_some() || last_label.is_some() {
        let context = contexts.of_single(start);
        let refine = |q: Quantity| context.map_or(q, |f| f.refine(q));
        reading.push(match first_label {
            Some(q) => Found::Value(refine(q), values[0]),
            None => Found::Bare(values[0], context),
        });
        if let Some(k) = after_group.filter(|_| last_label.is_some()) {
            used_labels.push(k);
        }
        reading.push(match last_label {
            Some(q) => Found::Value(refine(q), values[1]),
            None => Found::Bare(values[1], context),
        });
        return end;
    }
    // "80 x 50 x 25 mm inside": the sizes of the hollow, a qualifier the entry must honour.
    let inside = |k: Option<usize>| label_at(items, k) == Some(Quantity::InnerDiameter);
    if members.len() == 3 && (inside(after_group) || inside(before_first)) {
        let label = if inside(after_group) {
            after_group
        } else {
            before_first
        };
        used_labels.extend(label);
        reading.qualifiers.push(QualifierUse {
            qualifier: Qualifier::Inside,
            scope: Scope::Part,
            words: "inside".to_owned(),
            along: None,
            honoured: false,
        });
    }
    // A group takes its feature only from before it: "a 100x50x5 plate, four holes"; right
    // before a part noun it is the part's ("holes in a 150 x 20 x 3 strip").
    let before_part = matches!(
        after_group.map(|k| &items[k]),
        Some(Item::Word(Class::Part(_)))
    );
    let feature = if before_part {
        None
    } else {
        contexts.preceding[start]
    };
    reading.push(Found::Group(values, feature));
    end
}

/// The meaning of a single number from the words around it.
fn label_single(
    items: &[Item],
    contexts: &Contexts,
    index: usize,
    mm: f64,
    used_labels: &mut Vec<usize>,
) -> Found {
    let before = previous_meaningful(items, index).filter(|&k| !is_boundary(&items[k]));
    let after = next_meaningful(items, index).filter(|&k| !is_boundary(&items[k]));
    // "10 mm diameter hole": the feature after a label word gives the label its meaning.
    let after_label_feature = after
        .filter(|&k| label_at(items, Some(k)).is_some())
        .and_then(|k| feature_at(items, next_meaningful(items, k)));
    let after_feature = feature_at(items, after).or(after_label_feature);
    let context = after_feature.or(contexts.of_single(index));
    let refine = |q: Quantity| context.map_or(q, |f| f.refine(q));

    if before.is_some_and(|k| items[k] == Item::Diameter) {
        return Found::Value(refine(Quantity::Diameter), mm);
    }
    if let Some(k) = before
        && !used_labels.contains(&k)
        && let Some(q) = label_at(items, Some(k))
    {
        used_labels.push(k);
        return Found::Value(refine(q), mm);
    }
    if let Some(k) = after
        && let Some(q) = label_at(items, Some(k))
    {
        used_labels.push(k);
        // "2 mm thick walls", "a 3 mm thick floor": the thickness of what follows.
        let next = next_meaningful(items, k);
        if q == Quantity::Thickness
            && let Some(whose @ (Quantity::Wall | Quantity::Floor)) = label_at(items, next)
        {
            used_labels.extend(next);
            return Found::Value(whose, mm);
        }
        return Found::Value(refine(q), mm);
    }
    if let Some(q) = feature_at(items, after).and_then(Feature::primary) {
        return Found::Value(q, mm);
    }
    if let Some(q) = feature_at(items, before).and_then(Feature::primary) {
        return Found::Value(q, mm);
    }
    match context.and_then(Feature::primary) {
        Some(q) => Found::Value(q, mm),
        None => Found::Bare(mm, context),
    }
}

impl Reading {
    fn push(&mut self, found: Found) {
        self.found.push(found);
        self.taken.push(false);
    }

    pub fn has_feature(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }

    /// Whether the prompt gave a value of `quantity` (without taking it).
    pub fn has_value(&self, quantity: Quantity) -> bool {
        self.found
            .iter()
            .any(|found| matches!(found, Found::Value(q, _) if *q == quantity))
    }

    pub fn has_arrangement(&self, arrangement: Arrangement) -> bool {
        self.arrangements.contains(&arrangement)
    }

    /// Takes every value of `quantity`; two different values are a conflict.
    pub fn take(&mut self, quantity: Quantity) -> Result<Option<f64>, PlanError> {
        let mut found: Option<f64> = None;
        for k in 0..self.found.len() {
            if self.taken[k] {
                continue;
            }
            // A copy, so that a conflict can be reported while the flags change.
            let item = &self.found[k].clone();
            if let Found::Value(q, v) = item
                && *q == quantity
            {
                if let Some(previous) = found
                    && !same(previous, *v)
                {
                    return Err(self.conflict(&format!(
                        "two different values for the {} ({} and {} mm)",
                        quantity.name(),
                        fmt(previous),
                        fmt(*v)
                    )));
                }
                found = Some(*v);
                self.taken[k] = true;
            }
        }
        Ok(found)
    }

    /// A diameter given either as a diameter or as a radius; both must agree.
    pub fn take_diameter(
        &mut self,
        diameter: Quantity,
        radius: Quantity,
    ) -> Result<Option<f64>, PlanError> {
        let d = self.take(diameter)?;
        let r = self.take(radius)?;
        match (d, r) {
            (Some(d), Some(r)) if !same(d, 2.0 * r) => Err(self.conflict(&format!(
                "a {} of {} mm and a {} of {} mm, which disagree",
                diameter.name(),
                fmt(d),
                radius.name(),
                fmt(r)
            ))),
            (Some(d), _) => Ok(Some(d)),
            (None, r) => Ok(r.map(|r| 2.0 * r)),
        }
    }

    /// The first group of `len` sizes for `feature` (None: the part itself).
    pub fn take_group(&mut self, len: usize, feature: Option<Feature>) -> Option<Vec<f64>> {
        let k = self.found.iter().enumerate().position(|(k, item)| {
            !self.taken[k] && matches!(item, Found::Group(v, f) if v.len() == len && *f == feature)
        })?;
        self.taken[k] = true;
        match &self.found[k] {
            Found::Group(values, _) => Some(values.clone()),
            _ => None,
        }
    }

    /// The next unlabelled size for `feature` (None: the part itself).
    pub fn take_bare(&mut self, feature: Option<Feature>) -> Option<f64> {
        let k = self.found.iter().enumerate().position(|(k, item)| {
            !self.taken[k] && matches!(item, Found::Bare(_, f) if *f == feature)
        })?;
        self.taken[k] = true;
        match self.found[k] {
            Found::Bare(v, _) => Some(v),
            _ => None,
        }
    }

    /// The hole count; several counts must agree.
    pub fn take_count(&mut self) -> Result<Option<f64>, PlanError> {
        let mut found = None;
        for k in 0..self.found.len() {
            if self.taken[k] {
                continue;
            }
            // A copy, so that a conflict can be reported while the flags change.
            let item = &self.found[k].clone();
            if let Found::Count(n) = item {
                if let Some(previous) = found
                    && previous != *n
                {
                    return Err(self.conflict(&format!(
                        "two different hole counts ({} and {})",
                        fmt(previous),
                        fmt(*n)
                    )));
                }
                found = Some(*n);
                self.taken[k] = true;
            }
        }
        Ok(found)
    }

    /// Every hole count, in order ("four holes, one in each corner" gives 4 then 1).
    pub fn take_counts(&mut self) -> Vec<f64> {
        let mut counts = Vec::new();
        for k in 0..self.found.len() {
            if self.taken[k] {
                continue;
            }
            // A copy, so that a conflict can be reported while the flags change.
            let item = &self.found[k].clone();
            if let Found::Count(n) = item {
                counts.push(*n);
                self.taken[k] = true;
            }
        }
        counts
    }

    pub fn take_grid(&mut self) -> Option<(f64, f64)> {
        let k = self
            .found
            .iter()
            .enumerate()
            .position(|(k, item)| !self.taken[k] && matches!(item, Found::Grid(..)))?;
        self.taken[k] = true;
        match self.found[k] {
            Found::Grid(columns, rows) => Some((columns, rows)),
            _ => None,
        }
    }

    /// The metric size for `feature` (or for the part itself, with None).
    pub fn take_metric(&mut self, feature: Option<Feature>) -> Result<Option<f64>, PlanError> {
        let mut found = None;
        for k in 0..self.found.len() {
            if self.taken[k] {
                continue;
            }
            // A copy, so that a conflict can be reported while the flags change.
            let item = &self.found[k].clone();
            if let Found::Metric(m, f) = item
                && *f == feature
            {
                if let Some(previous) = found
                    && previous != *m
                {
                    return Err(self.conflict(&format!(
                        "two different metric sizes (M{} and M{})",
                        fmt(previous),
                        fmt(*m)
                    )));
                }
                found = Some(*m);
                self.taken[k] = true;
            }
        }
        Ok(found)
    }

    /// How many of `feature` the prompt counted ("two slots"); several counts must agree.
    pub fn take_count_of(&mut self, feature: Feature) -> Result<Option<f64>, PlanError> {
        let mut found: Option<f64> = None;
        for k in 0..self.found.len() {
            if let (false, Found::CountOf(n, Some(f))) = (self.taken[k], &self.found[k])
                && *f == feature
            {
                let n = *n;
                if found.is_some_and(|previous| previous != n) {
                    return Err(self.conflict(&format!("two different counts of {feature:?}s")));
                }
                found = Some(n);
                self.taken[k] = true;
            }
        }
        Ok(found)
    }

    /// How many rows of holes the prompt gave ("two rows of three holes").
    pub fn take_rows(&mut self) -> Option<f64> {
        let k = (0..self.found.len())
            .find(|&k| !self.taken[k] && matches!(self.found[k], Found::Rows(_)))?;
        self.taken[k] = true;
        match self.found[k] {
            Found::Rows(n) => Some(n),
            _ => None,
        }
    }

    /// Counts of things the catalogue has no feature for ("three sections"), in order.
    pub fn take_plain_counts(&mut self) -> Vec<f64> {
        let mut found = Vec::new();
        for k in 0..self.found.len() {
            if let (false, Found::CountOf(n, None)) = (self.taken[k], &self.found[k]) {
                found.push(*n);
                self.taken[k] = true;
            }
        }
        found
    }

    /// The sizes a direction names ("through the 80 mm length"), as (which size, mm).
    pub fn take_along(&mut self) -> Vec<(Quantity, f64)> {
        let mut found = Vec::new();
        for k in 0..self.found.len() {
            if let (false, Found::Along(q, v)) = (self.taken[k], &self.found[k]) {
                found.push((*q, *v));
                self.taken[k] = true;
            }
        }
        found
    }

    /// Every value of these quantities and (with `bare`) every unlabelled size of the part
    /// itself, in the order the prompt gives them: a stepped shaft's diameters and lengths.
    /// Unlabelled sizes come as `None`; a pair "15 x 30" of the part itself as `Diameter`
    /// then `Length` (a turned section is given as diameter by length).
    pub fn take_in_order(&mut self, quantities: &[Quantity]) -> Vec<(Option<Quantity>, f64)> {
        let mut found = Vec::new();
        for k in 0..self.found.len() {
            if self.taken[k] {
                continue;
            }
            match &self.found[k] {
                Found::Value(q, v) if quantities.contains(q) => found.push((Some(*q), *v)),
                Found::Bare(v, None) => found.push((None, *v)),
                Found::Group(v, None) if v.len() == 2 => {
                    found.push((Some(Quantity::Diameter), v[0]));
                    found.push((Some(Quantity::Length), v[1]));
                }
                _ => continue,
            }
            self.taken[k] = true;
        }
        found
    }

    /// How many different values of these quantities the prompt gave.
    pub fn distinct_values(&self, quantities: &[Quantity]) -> usize {
        let mut values: Vec<f64> = Vec::new();
        for found in &self.found {
            if let Found::Value(q, v) = found
                && quantities.contains(q)
                && !values.iter().any(|w| same(*w, *v))
            {
                values.push(*v);
            }
        }
        values.len()
    }

    /// Marks every qualifier of these kinds, in any scope, as honoured.
    pub fn honour_anywhere(&mut self, kinds: &[Qualifier]) {
        for q in &mut self.qualifiers {
            if kinds.contains(&q.qualifier) {
                q.honoured = true;
            }
        }
    }

    /// Whether the prompt has a qualifier of this kind (honoured or not).
    pub fn has_qualifier(&self, kind: Qualifier) -> bool {
        self.qualifiers.iter().any(|q| q.qualifier == kind)
    }

    /// Whether the prompt counted holes ("four holes", "a 3 x 2 grid").
    pub fn counts_given(&self) -> bool {
        self.found
            .iter()
            .any(|f| matches!(f, Found::Count(_) | Found::Grid(..)))
    }

    /// The M size given for `feature`, taken or not ("countersunk M5 holes").
    pub fn metric_of(&self, feature: Option<Feature>) -> Option<f64> {
        self.found.iter().find_map(|found| match found {
            Found::Metric(m, f) if *f == feature => Some(*m),
            _ => None,
        })
    }

    /// The kinds of the qualifiers not yet honoured in `scope`.
    pub fn open_qualifiers(&self, scope: Scope) -> Vec<Qualifier> {
        let mut kinds: Vec<Qualifier> = Vec::new();
        for q in self
            .qualifiers
            .iter()
            .filter(|q| !q.honoured && q.scope == scope)
        {
            if !kinds.contains(&q.qualifier) {
                kinds.push(q.qualifier);
            }
        }
        kinds
    }

    /// Marks every qualifier of these kinds in `scope` as honoured by the plan.
    pub fn honour(&mut self, scope: Scope, kinds: &[Qualifier]) {
        for q in &mut self.qualifiers {
            if q.scope == scope && kinds.contains(&q.qualifier) {
                q.honoured = true;
            }
        }
    }

    /// The words of the qualifiers the plan did not honour, for the refusal.
    pub fn unhonoured(&self) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        for q in self.qualifiers.iter().filter(|q| !q.honoured) {
            if !words.contains(&q.words) {
                words.push(q.words.clone());
            }
        }
        words
    }

    /// What was read, for messages: "100 x 50 x 5 mm, 4 holes, hole diameter 6 mm".
    pub fn understood(&self) -> String {
        let parts: Vec<String> = self.found.iter().map(Found::describe).collect();
        if parts.is_empty() {
            "no sizes".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// What no catalogue entry took, for the "never ignore a number" check.
    pub fn leftovers(&self) -> Vec<String> {
        self.found
            .iter()
            .zip(&self.taken)
            .filter(|(_, taken)| !**taken)
            .map(|(found, _)| found.describe())
            .collect()
    }

    fn conflict(&self, what: &str) -> PlanError {
        PlanError {
            code: ErrorCode::AmbiguousPrompt,
            message: format!(
                "The offline planner read {} but found {what}; it needs one value for each size.",
                self.understood()
            ),
        }
    }
}

/// Two sizes the prompt gave that are the same size (allowing for unit round-off).
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(prompt: &str) -> Vec<Found> {
        read(prompt).found
    }

    #[test]
    fn labels_before_and_after_numbers() {
        assert_eq!(
            found("a cylinder 40 mm in diameter and 25 mm tall"),
            vec![
                Found::Value(Quantity::Diameter, 40.0),
                Found::Value(Quantity::Height, 25.0)
            ]
        );
        assert_eq!(
            found("diameter 40 height 25"),
            vec![
                Found::Value(Quantity::Diameter, 40.0),
                Found::Value(Quantity::Height, 25.0)
            ]
        );
    }

    #[test]
    fn counts_and_hole_sizes() {
        assert_eq!(
            found("with four 6 mm holes 10 mm from the edges"),
            vec![
                Found::Count(4.0),
                Found::Value(Quantity::HoleDiameter, 6.0),
                Found::Value(Quantity::Margin, 10.0)
            ]
        );
        assert_eq!(
            found("4x Ø6 holes"),
            vec![Found::Count(4.0), Found::Value(Quantity::HoleDiameter, 6.0)]
        );
        assert_eq!(
            found("a 3x2 grid of 5 mm holes"),
            vec![
                Found::Grid(3.0, 2.0),
                Found::Value(Quantity::HoleDiameter, 5.0)
            ]
        );
    }

    #[test]
    fn groups_take_one_unit_and_a_feature_after_them() {
        assert_eq!(
            found("100 x 50 x 3 cm with a 20x20x10 mm pocket"),
            vec![
                Found::Group(vec![1000.0, 500.0, 30.0], None),
                Found::Group(vec![20.0, 20.0, 10.0], Some(Feature::Pocket))
            ]
        );
    }

    #[test]
    fn a_count_before_a_size_is_never_read_as_a_size() {
        assert_eq!(
            found("three 40 mm legs"),
            vec![Found::CountOf(3.0, None), Found::Bare(40.0, None)]
        );
        assert_eq!(
            found("two 30 x 8 mm slots"),
            vec![
                Found::CountOf(2.0, Some(Feature::Slot)),
                Found::Group(vec![30.0, 8.0], Some(Feature::Slot))
            ]
        );
        assert_eq!(
            found("six 5 mm corner holes"),
            vec![Found::Count(6.0), Found::Value(Quantity::HoleDiameter, 5.0)]
        );
        assert_eq!(
            found("two 10 mm thick gussets"),
            vec![
                Found::CountOf(2.0, Some(Feature::Gusset)),
                Found::Value(Quantity::GussetThickness, 10.0)
            ]
        );
    }

    #[test]
    fn directions_say_which_size_they_run_along() {
        let along = |prompt: &str| -> Vec<Option<Quantity>> {
            read(prompt).qualifiers.iter().map(|q| q.along).collect()
        };
        assert_eq!(along("a hole along its length"), [Some(Quantity::Length)]);
        assert_eq!(along("a hole front to back"), [Some(Quantity::Width)]);
        assert_eq!(
            along("a hole through the 80 mm length"),
            [Some(Quantity::Length)]
        );
        assert_eq!(
            found("a hole through the 80 mm length"),
            vec![Found::Along(Quantity::Length, 80.0)]
        );
        assert_eq!(along("chamfers along the top edges"), [None, None]);
    }

    #[test]
    fn unsupported_words_are_collected() {
        assert_eq!(
            read("a sprocket with a keyway").unsupported,
            ["sprocket", "keyway"]
        );
    }
}
