//! Times the mesh formats and the thumbnail made from one binary STL (the worker's path after
//! FreeCAD has tessellated): `cargo run --release -p worker --example thumbnail_timing -- part.stl`.

use std::time::Instant;

use shared::job::OutputFormat;
use worker::mesh::{encode, read_binary_stl, thumbnail};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: thumbnail_timing <binary.stl>");
    let bytes = std::fs::read(&path).expect("the STL reads");
    let rounds = 20;
    let started = Instant::now();
    let mut mesh = None;
    for _ in 0..rounds {
        mesh = Some(read_binary_stl(&bytes).expect("a binary STL"));
    }
    let mesh = mesh.unwrap();
    println!(
        "{} triangles, {} vertices; read + weld {:.2} ms",
        mesh.triangles.len(),
        mesh.vertices.len(),
        started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds)
    );
    for format in [
        OutputFormat::Obj,
        OutputFormat::Ply,
        OutputFormat::ThreeMf,
        OutputFormat::Glb,
    ] {
        let started = Instant::now();
        let mut size = 0;
        for _ in 0..rounds {
            size = encode(&mesh, format).expect("a mesh format").len();
        }
        println!(
            "{}: {size} bytes in {:.2} ms",
            format.as_str(),
            started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds)
        );
    }
    let (min, max) = mesh.bounds();
    let bbox = [0, 1, 2].map(|i| f64::from(max[i] - min[i]));
    let started = Instant::now();
    let mut size = 0;
    for _ in 0..rounds {
        size = thumbnail(&mesh, bbox).expect("a PNG").len();
    }
    println!(
        "png: {size} bytes in {:.2} ms",
        started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds)
    );
}
