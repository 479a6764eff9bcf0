//! OBJ, PLY, 3MF and GLB from one indexed mesh (millimetres, Z up, outward winding).

use std::fmt::Write as _;

use super::Mesh;
use super::zip::stored_zip;

/// Wavefront OBJ: `v` lines then `f` lines (1-based). Floats print in their shortest exact form.
pub fn write_obj(mesh: &Mesh) -> Vec<u8> {
    let mut out = String::with_capacity(mesh.vertices.len() * 30 + mesh.triangles.len() * 20);
    out.push_str("# freecad-ai-designer mesh, millimetres\no design\n");
    for [x, y, z] in &mesh.vertices {
        let _ = writeln!(out, "v {x} {y} {z}");
    }
    for [a, b, c] in &mesh.triangles {
        let _ = writeln!(out, "f {} {} {}", a + 1, b + 1, c + 1);
    }
    out.into_bytes()
}

/// Binary little-endian PLY: float x, y, z per vertex; a list of int indices per face.
pub fn write_ply(mesh: &Mesh) -> Vec<u8> {
    let header = format!(
        "ply\nformat binary_little_endian 1.0\ncomment freecad-ai-designer mesh, millimetres\n\
         element vertex {}\nproperty float x\nproperty float y\nproperty float z\n\
         element face {}\nproperty list uchar int vertex_indices\nend_header\n",
        mesh.vertices.len(),
        mesh.triangles.len()
    );
    let mut out = header.into_bytes();
    for v in &mesh.vertices {
        for c in v {
            out.extend(c.to_le_bytes());
        }
    }
    for t in &mesh.triangles {
        out.push(3);
        for i in t {
            out.extend((*i as i32).to_le_bytes());
        }
    }
    out
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>
"#;

const RELATIONSHIPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>
"#;

/// A 3MF package (OPC zip): content types, the root relationship and `3D/3dmodel.model`
/// with one object in millimetres.
pub fn write_3mf(mesh: &Mesh) -> Vec<u8> {
    let mut model = String::with_capacity(mesh.vertices.len() * 60 + mesh.triangles.len() * 50);
    model.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<model unit=\"millimeter\" xml:lang=\"en-US\" \
         xmlns=\"http://schemas.microsoft.com/3dmanufacturing/core/2015/02\">\
         <resources><object id=\"1\" type=\"model\" name=\"design\"><mesh><vertices>",
    );
    for [x, y, z] in &mesh.vertices {
        let _ = write!(model, "<vertex x=\"{x}\" y=\"{y}\" z=\"{z}\"/>");
    }
    model.push_str("</vertices><triangles>");
    for [a, b, c] in &mesh.triangles {
        let _ = write!(model, "<triangle v1=\"{a}\" v2=\"{b}\" v3=\"{c}\"/>");
    }
    model.push_str(
        "</triangles></mesh></object></resources><build><item objectid=\"1\"/></build></model>\n",
    );
    stored_zip(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", RELATIONSHIPS.as_bytes()),
        ("3D/3dmodel.model", model.as_bytes()),
    ])
}

/// Binary glTF 2.0: one mesh of indexed triangles. glTF is in metres with Y up, so the node
/// scales millimetres by 0.001 and turns CAD's Z up into Y up.
pub fn write_glb(mesh: &Mesh) -> Vec<u8> {
    let mut bin = Vec::with_capacity(mesh.vertices.len() * 12 + mesh.triangles.len() * 12);
    for v in &mesh.vertices {
        for c in v {
            bin.extend(c.to_le_bytes());
        }
    }
    let positions_len = bin.len();
    for t in &mesh.triangles {
        for i in t {
            bin.extend(i.to_le_bytes());
        }
    }
    let indices_len = bin.len() - positions_len;
    let (min, max) = mesh.bounds();
    let json = serde_json::json!({
        "asset": {"version": "2.0", "generator": "freecad-ai-designer"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{
            "name": "design",
            "mesh": 0,
            "rotation": [-std::f32::consts::FRAC_1_SQRT_2, 0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2],
            "scale": [0.001, 0.001, 0.001]
        }],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "mode": 4}]}],
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": positions_len, "target": 34962},
            {"buffer": 0, "byteOffset": positions_len, "byteLength": indices_len, "target": 34963}
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": mesh.vertices.len(),
             "type": "VEC3", "min": min, "max": max},
            {"bufferView": 1, "componentType": 5125, "count": mesh.triangles.len() * 3,
             "type": "SCALAR"}
        ]
    });
    let mut json = json.to_string().into_bytes();
    // Chunks are 4-byte aligned: JSON padded with spaces, the binary one with zeros.
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend(b"glTF");
    out.extend(2u32.to_le_bytes());
    out.extend((total as u32).to_le_bytes());
    out.extend((json.len() as u32).to_le_bytes());
    out.extend(b"JSON");
    out.extend(json);
    out.extend((bin.len() as u32).to_le_bytes());
    out.extend(b"BIN\0");
    out.extend(bin);
    out
}
