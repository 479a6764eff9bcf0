//! The result's one tessellation and every mesh format made from it.
//!
//! FreeCAD tessellates the shapes once (`MESH_LINEAR_DEFLECTION`, `MESH_ANGULAR_DEFLECTION`)
//! and writes it as a binary STL inside the sandbox; everything else (OBJ, PLY, 3MF, GLB and
//! the PNG thumbnail) is derived here from those very triangles, so all formats agree to the
//! bit and the writers run as plain Rust outside FreeCAD.

mod stl;
mod writers;
mod zip;

pub use stl::{MeshError, read_binary_stl};
pub use writers::{write_3mf, write_glb, write_obj, write_ply};

use shared::job::OutputFormat;

/// An indexed triangle mesh in millimetres; vertices shared between triangles are welded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    pub vertices: Vec<[f32; 3]>,
    pub triangles: Vec<[u32; 3]>,
}

impl Mesh {
    /// The smallest and largest coordinate on each axis (zeros for an empty mesh).
    pub fn bounds(&self) -> ([f32; 3], [f32; 3]) {
        let mut min = [f32::INFINITY; 3];
        let mut max = [f32::NEG_INFINITY; 3];
        for v in &self.vertices {
            for axis in 0..3 {
                min[axis] = min[axis].min(v[axis]);
                max[axis] = max[axis].max(v[axis]);
            }
        }
        if self.vertices.is_empty() {
            return ([0.0; 3], [0.0; 3]);
        }
        (min, max)
    }

    /// The unit normal of each triangle (zero for a degenerate one).
    pub fn face_normals(&self) -> Vec<[f32; 3]> {
        self.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| self.vertices[i as usize]);
                let u = sub(b, a);
                let v = sub(c, a);
                let n = [
                    u[1] * v[2] - u[2] * v[1],
                    u[2] * v[0] - u[0] * v[2],
                    u[0] * v[1] - u[1] * v[0],
                ];
                let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                if len > 0.0 {
                    n.map(|x| x / len)
                } else {
                    [0.0; 3]
                }
            })
            .collect()
    }
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// The PNG thumbnail of the mesh, labelled with `bbox` (the measured extents, mm).
pub fn thumbnail(mesh: &Mesh, bbox: [f64; 3]) -> Result<Vec<u8>, thumbnail::EncodingError> {
    thumbnail::thumbnail_png(
        &thumbnail::Mesh {
            vertices: &mesh.vertices,
            triangles: &mesh.triangles,
        },
        bbox,
    )
}

/// The file of one mesh format (not STL, which FreeCAD writes, nor PNG, see [`thumbnail`]).
pub fn encode(mesh: &Mesh, format: OutputFormat) -> Option<Vec<u8>> {
    match format {
        OutputFormat::Obj => Some(write_obj(mesh)),
        OutputFormat::Ply => Some(write_ply(mesh)),
        OutputFormat::ThreeMf => Some(write_3mf(mesh)),
        OutputFormat::Glb => Some(write_glb(mesh)),
        _ => None,
    }
}
