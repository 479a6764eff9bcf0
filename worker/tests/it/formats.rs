//! Every format of real FreeCAD results, opened by readers written here (not FreeCAD, not
//! the worker's writers): STL, OBJ and PLY volumes (signed tetrahedra) within 1 % of the
//! catalogue's exact volume; a GLB whose header and JSON chunk parse and whose mesh is
//! closed; a 3MF that is a valid package with `3D/3dmodel.model` (checked by Python's own
//! `zipfile` and XML parser); and PNG thumbnails that look like their parts.

use std::collections::HashMap;
use std::path::Path;

use shared::job::OutputFormat;
use worker::agents::generator::script_for;
use worker::offline_planner::OfflinePlanner;

use crate::helpers::runner_with;

const PARTS: [&str; 3] = [
    "a box 100 x 50 x 30 mm",
    "a cylinder 40 mm in diameter and 25 mm tall",
    "a flange 120 mm OD, 60 mm bore, 12 mm thick with 6 holes of 10 mm on a 90 mm pitch circle",
];

type Triangles = Vec<[[f64; 3]; 3]>;

fn signed_volume(triangles: &Triangles) -> f64 {
    triangles
        .iter()
        .map(|[a, b, c]| {
            (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                + a[2] * (b[0] * c[1] - b[1] * c[0]))
                / 6.0
        })
        .sum()
}

fn f32_at(bytes: &[u8], at: usize) -> f64 {
    f64::from(f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn read_stl(bytes: &[u8]) -> Triangles {
    let count = u32_at(bytes, 80) as usize;
    assert_eq!(bytes.len(), 84 + 50 * count, "a binary STL's length");
    (0..count)
        .map(|t| {
            let at = 84 + 50 * t + 12;
            std::array::from_fn(|corner| {
                std::array::from_fn(|axis| f32_at(bytes, at + corner * 12 + axis * 4))
            })
        })
        .collect()
}

fn indexed(vertices: &[[f64; 3]], faces: &[[usize; 3]]) -> Triangles {
    faces.iter().map(|f| f.map(|i| vertices[i])).collect()
}

fn read_obj(text: &str) -> (Vec<[f64; 3]>, Vec<[usize; 3]>) {
    let (mut vertices, mut faces) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("v") => {
                let v: Vec<f64> = words.map(|w| w.parse().unwrap()).collect();
                vertices.push([v[0], v[1], v[2]]);
            }
            Some("f") => {
                let f: Vec<usize> = words
                    .map(|w| w.split('/').next().unwrap().parse::<usize>().unwrap() - 1)
                    .collect();
                assert_eq!(f.len(), 3, "triangles only");
                faces.push([f[0], f[1], f[2]]);
            }
            _ => {}
        }
    }
    (vertices, faces)
}

fn read_ply(bytes: &[u8]) -> (Vec<[f64; 3]>, Vec<[usize; 3]>) {
    let end = bytes
        .windows(11)
        .position(|w| w == b"end_header\n")
        .expect("a PLY header")
        + 11;
    let header = std::str::from_utf8(&bytes[..end]).unwrap();
    assert!(header.starts_with("ply\nformat binary_little_endian 1.0\n"));
    let count = |element: &str| -> usize {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("element {element} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (nv, nf) = (count("vertex"), count("face"));
    let mut at = end;
    let vertices = (0..nv)
        .map(|_| {
            let v = std::array::from_fn(|k| f32_at(bytes, at + 4 * k));
            at += 12;
            v
        })
        .collect();
    let faces = (0..nf)
        .map(|_| {
            assert_eq!(bytes[at], 3);
            let f = std::array::from_fn(|k| u32_at(bytes, at + 1 + 4 * k) as usize);
            at += 13;
            f
        })
        .collect();
    assert_eq!(at, bytes.len(), "nothing after the faces");
    (vertices, faces)
}

/// Every edge of a closed, consistently wound mesh is walked once in each direction.
fn assert_closed(faces: &[[usize; 3]], what: &str) {
    let mut directed: HashMap<(usize, usize), u32> = HashMap::new();
    for f in faces {
        for k in 0..3 {
            *directed.entry((f[k], f[(k + 1) % 3])).or_default() += 1;
        }
    }
    for (&(a, b), &n) in &directed {
        assert_eq!(n, 1, "{what}: edge {a}->{b} used {n} times");
        assert_eq!(
            directed.get(&(b, a)),
            Some(&1),
            "{what}: edge {a}->{b} has no twin: the mesh is open"
        );
    }
}

/// GLB: header, JSON chunk, BIN chunk; the mesh's positions and indices.
fn read_glb(bytes: &[u8]) -> (Vec<[f64; 3]>, Vec<[usize; 3]>) {
    assert_eq!(&bytes[0..4], b"glTF");
    assert_eq!(u32_at(bytes, 4), 2, "glTF 2");
    assert_eq!(
        u32_at(bytes, 8) as usize,
        bytes.len(),
        "the header's length"
    );
    let json_len = u32_at(bytes, 12) as usize;
    assert_eq!(&bytes[16..20], b"JSON");
    let json: serde_json::Value = serde_json::from_slice(&bytes[20..20 + json_len]).unwrap();
    assert_eq!(json["asset"]["version"], "2.0");
    let bin_at = 20 + json_len;
    let bin_len = u32_at(bytes, bin_at) as usize;
    assert_eq!(&bytes[bin_at + 4..bin_at + 8], b"BIN\0");
    let bin = &bytes[bin_at + 8..bin_at + 8 + bin_len];
    let primitive = &json["meshes"][0]["primitives"][0];
    let accessor = |index: &serde_json::Value| {
        let accessor = &json["accessors"][index.as_u64().unwrap() as usize];
        let view = &json["bufferViews"][accessor["bufferView"].as_u64().unwrap() as usize];
        let offset = view["byteOffset"].as_u64().unwrap_or(0) as usize;
        (accessor.clone(), offset)
    };
    let (positions, p_at) = accessor(&primitive["attributes"]["POSITION"]);
    assert_eq!(positions["componentType"], 5126);
    assert_eq!(positions["type"], "VEC3");
    let vertices: Vec<[f64; 3]> = (0..positions["count"].as_u64().unwrap() as usize)
        .map(|i| std::array::from_fn(|k| f32_at(bin, p_at + 12 * i + 4 * k)))
        .collect();
    let (indices, i_at) = accessor(&primitive["indices"]);
    assert_eq!(indices["componentType"], 5125);
    let count = indices["count"].as_u64().unwrap() as usize;
    let faces = (0..count / 3)
        .map(|t| std::array::from_fn(|k| u32_at(bin, i_at + 12 * t + 4 * k) as usize))
        .collect();
    (vertices, faces)
}

/// Python's `zipfile` and XML parser check the 3MF package; prints the model's volume.
fn check_3mf_with_python(path: &Path) -> f64 {
    let program = r#"
import sys, zipfile, xml.etree.ElementTree as ET
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, "a corrupt entry"
names = set(z.namelist())
assert "[Content_Types].xml" in names and "_rels/.rels" in names, names
rels = ET.fromstring(z.read("_rels/.rels"))
targets = [r.get("Target") for r in rels]
assert "/3D/3dmodel.model" in targets, targets
types = ET.fromstring(z.read("[Content_Types].xml"))
assert any(t.get("Extension") == "model" for t in types)
ns = {"m": "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"}
model = ET.fromstring(z.read("3D/3dmodel.model"))
assert model.get("unit") == "millimeter"
v = [(float(e.get("x")), float(e.get("y")), float(e.get("z"))) for e in model.iterfind(".//m:vertex", ns)]
volume = 0.0
for t in model.iterfind(".//m:triangle", ns):
    a, b, c = (v[int(t.get(k))] for k in ("v1", "v2", "v3"))
    volume += (a[0]*(b[1]*c[2]-b[2]*c[1]) - a[1]*(b[0]*c[2]-b[2]*c[0]) + a[2]*(b[0]*c[1]-b[1]*c[0])) / 6
assert model.find(".//m:build/m:item", ns) is not None
print(volume)
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the 3MF fails Python's check: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

fn within_one_percent(measured: f64, exact: f64, what: &str) {
    let error = (measured - exact).abs() / exact;
    assert!(
        error < 0.01,
        "{what}: mesh volume {measured:.3} vs exact {exact:.3} ({:.3} % off)",
        error * 100.0
    );
}

struct Picture {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

fn decode_png(bytes: &[u8]) -> Picture {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    pixels.truncate(info.buffer_size());
    Picture {
        width: info.width,
        height: info.height,
        pixels,
    }
}

#[tokio::test]
async fn every_format_opens_in_an_independent_reader_and_agrees_on_the_volume() {
    let runner = runner_with(&[("FREECAD_POOL_SIZE", "1")]).await;
    let mut pictures = Vec::new();
    for prompt in PARTS {
        let plan = OfflinePlanner.plan(prompt).unwrap();
        let exact = plan
            .plan
            .expected
            .volume
            .expect("the catalogue knows the volume");
        let outcome = runner
            .run(&script_for(&plan.part), &OutputFormat::ALL)
            .await
            .expect("the part runs");
        let files: HashMap<OutputFormat, Vec<u8>> = outcome
            .files
            .iter()
            .map(|(format, path)| (*format, std::fs::read(path).unwrap()))
            .collect();
        assert_eq!(
            files.len(),
            OutputFormat::ALL.len(),
            "{prompt}: every format"
        );

        let stl = read_stl(&files[&OutputFormat::Stl]);
        within_one_percent(signed_volume(&stl), exact, "STL");
        let (v, f) = read_obj(std::str::from_utf8(&files[&OutputFormat::Obj]).unwrap());
        assert_eq!(f.len(), stl.len(), "OBJ and STL share the tessellation");
        within_one_percent(signed_volume(&indexed(&v, &f)), exact, "OBJ");
        assert_closed(&f, "OBJ");
        let (v, f) = read_ply(&files[&OutputFormat::Ply]);
        within_one_percent(signed_volume(&indexed(&v, &f)), exact, "PLY");
        let (v, f) = read_glb(&files[&OutputFormat::Glb]);
        assert_closed(&f, "GLB");
        within_one_percent(signed_volume(&indexed(&v, &f)), exact, "GLB");
        let threemf = outcome
            .files
            .iter()
            .find(|(format, _)| *format == OutputFormat::ThreeMf)
            .unwrap();
        within_one_percent(check_3mf_with_python(&threemf.1), exact, "3MF");
        assert!(files[&OutputFormat::Step].starts_with(b"ISO-10303-21"));
        assert!(files[&OutputFormat::Fcstd].starts_with(b"PK"));
        pictures.push((prompt, decode_png(&files[&OutputFormat::Png])));
    }
    check_thumbnails(&pictures);
}

/// Not blank, different for different parts, the part covering a sane share of the picture,
/// and the dimensions written in the top-left corner.
fn check_thumbnails(pictures: &[(&str, Picture)]) {
    for (prompt, picture) in pictures {
        assert!(
            picture.width >= 512 && picture.height >= 512,
            "{prompt}: size"
        );
        let background = &picture.pixels[picture.pixels.len() - 3..];
        let total = (picture.width * picture.height) as usize;
        let covered = picture
            .pixels
            .chunks(3)
            .filter(|p| *p != background)
            .count();
        let share = covered as f64 / total as f64;
        assert!(
            (0.08..0.8).contains(&share),
            "{prompt}: the part covers {:.1} % of the picture",
            share * 100.0
        );
        let distinct: std::collections::HashSet<&[u8]> = picture.pixels.chunks(3).collect();
        assert!(
            distinct.len() > 8,
            "{prompt}: shaded, not flat ({} colours)",
            distinct.len()
        );
        // The label: dark pixels in the top-left band.
        let width = picture.width as usize;
        let dark_in_corner = (0..48)
            .flat_map(|y| (0..width / 2).map(move |x| (y * width + x) * 3))
            .filter(|&at| picture.pixels[at..at + 3].iter().all(|&c| c < 90))
            .count();
        assert!(
            dark_in_corner > 100,
            "{prompt}: the dimensions are written in a corner"
        );
    }
    for (i, (a, pa)) in pictures.iter().enumerate() {
        for (b, pb) in &pictures[i + 1..] {
            let differing = pa
                .pixels
                .chunks(3)
                .zip(pb.pixels.chunks(3))
                .filter(|(x, y)| x != y)
                .count();
            assert!(
                differing > (pa.width * pa.height / 20) as usize,
                "{a} and {b} look alike ({differing} pixels differ)"
            );
        }
    }
}
