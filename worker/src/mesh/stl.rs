//! Reading the binary STL FreeCAD writes, welding equal corners into shared vertices.

use std::collections::HashMap;

use super::Mesh;

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("the STL is too short for its header ({0} bytes)")]
    TooShort(usize),
    #[error("the STL says {declared} triangles but holds {bytes} bytes")]
    WrongLength { declared: u32, bytes: usize },
}

const HEADER: usize = 80;
const RECORD: usize = 50;

/// A binary STL as an indexed mesh. FreeCAD writes each shared corner with the same three
/// floats, so exact bit equality welds the mesh back into a closed one.
pub fn read_binary_stl(bytes: &[u8]) -> Result<Mesh, MeshError> {
    if bytes.len() < HEADER + 4 {
        return Err(MeshError::TooShort(bytes.len()));
    }
    let declared = u32::from_le_bytes(bytes[HEADER..HEADER + 4].try_into().unwrap_or_default());
    let body = &bytes[HEADER + 4..];
    if body.len() != declared as usize * RECORD {
        return Err(MeshError::WrongLength {
            declared,
            bytes: bytes.len(),
        });
    }
    let mut mesh = Mesh::default();
    let mut index: HashMap<[u32; 3], u32> = HashMap::new();
    for record in body.chunks_exact(RECORD) {
        let mut triangle = [0u32; 3];
        for (corner, slot) in triangle.iter_mut().enumerate() {
            let at = 12 + corner * 12;
            let bits: [u32; 3] = std::array::from_fn(|axis| {
                let start = at + axis * 4;
                u32::from_le_bytes(record[start..start + 4].try_into().unwrap_or_default())
            });
            // -0.0 and 0.0 are the same point.
            let key = bits.map(|b| if b == 0x8000_0000 { 0 } else { b });
            *slot = *index.entry(key).or_insert_with(|| {
                mesh.vertices.push(bits.map(f32::from_bits));
                (mesh.vertices.len() - 1) as u32
            });
        }
        if triangle[0] != triangle[1] && triangle[1] != triangle[2] && triangle[0] != triangle[2] {
            mesh.triangles.push(triangle);
        }
    }
    Ok(mesh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stl(triangles: &[[[f32; 3]; 3]]) -> Vec<u8> {
        let mut out = vec![0u8; HEADER];
        out.extend((triangles.len() as u32).to_le_bytes());
        for t in triangles {
            out.extend([0u8; 12]);
            for corner in t {
                for v in corner {
                    out.extend(v.to_le_bytes());
                }
            }
            out.extend([0u8; 2]);
        }
        out
    }

    #[test]
    fn shared_corners_are_welded_and_degenerate_triangles_dropped() {
        let a = [0.0, 0.0, 0.0];
        let b = [1.0, 0.0, 0.0];
        let c = [0.0, 1.0, 0.0];
        let d = [-0.0, 0.0, 1.0];
        let mesh = read_binary_stl(&stl(&[[a, b, c], [a, c, d], [a, a, b]])).unwrap();
        assert_eq!(mesh.vertices.len(), 4);
        assert_eq!(mesh.triangles, vec![[0, 1, 2], [0, 2, 3]]);
    }

    #[test]
    fn a_truncated_file_is_an_error() {
        let mut bytes = stl(&[[[0.0; 3]; 3]]);
        bytes.pop();
        assert!(matches!(
            read_binary_stl(&bytes),
            Err(MeshError::WrongLength { declared: 1, .. })
        ));
        assert!(matches!(
            read_binary_stl(&[0; 10]),
            Err(MeshError::TooShort(10))
        ));
    }
}
