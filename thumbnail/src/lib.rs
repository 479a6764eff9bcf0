//! The design thumbnail: a shaded isometric picture of a triangle mesh, drawn by a small
//! software rasteriser (no display, no GPU, no FreeCAD GUI), with the bounding box's
//! dimensions written in the top-left corner, encoded as PNG.
//!
//! Why not FreeCAD's own rendering: `import FreeCADGui; FreeCADGui.showMainWindow()` in
//! `freecadcmd` aborts here (SIGABRT: Qt finds no display); it would need Xvfb and an OpenGL
//! stack inside the sandbox. This crate needs neither (see BENCHMARKS.md for its speed).
//! It is its own crate so that it can be optimised even in test builds.
//!
//! # Layout
//! - `font`: a 5x7 bitmap font for the dimension label.

mod font;

pub use png::EncodingError;

/// An indexed triangle mesh in millimetres, Z up.
#[derive(Debug, Clone, Copy)]
pub struct Mesh<'a> {
    pub vertices: &'a [[f32; 3]],
    pub triangles: &'a [[u32; 3]],
}

impl Mesh<'_> {
    /// The unit normal of each triangle (zero for a degenerate one).
    fn face_normals(&self) -> Vec<[f32; 3]> {
        self.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| self.vertices[i as usize]);
                let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
                let n = [
                    u[1] * v[2] - u[2] * v[1],
                    u[2] * v[0] - u[0] * v[2],
                    u[0] * v[1] - u[1] * v[0],
                ];
                let len = dot(n, n).sqrt();
                if len > 0.0 {
                    n.map(|x| x / len)
                } else {
                    [0.0; 3]
                }
            })
            .collect()
    }
}

/// The picture's side in pixels.
pub const SIZE: usize = 640;
/// Drawn at this many samples per pixel side, then averaged (anti-aliasing).
const SUPERSAMPLE: usize = 2;
pub const BACKGROUND: [u8; 3] = [245, 246, 248];
const PART: [f32; 3] = [88.0, 134.0, 196.0];
const INK: [u8; 3] = [40, 44, 52];

/// Screen axes of the isometric view from the front-right-top corner (Z up).
struct View {
    right: [f32; 3],
    up: [f32; 3],
    /// From the eye into the scene.
    forward: [f32; 3],
}

impl View {
    fn isometric() -> Self {
        let s2 = std::f32::consts::SQRT_2;
        let s3 = 3f32.sqrt();
        let s6 = 6f32.sqrt();
        Self {
            right: [1.0 / s2, 1.0 / s2, 0.0],
            up: [-1.0 / s6, 1.0 / s6, 2.0 / s6],
            forward: [-1.0 / s3, 1.0 / s3, -1.0 / s3],
        }
    }

    fn project(&self, p: [f32; 3]) -> [f32; 3] {
        [dot(p, self.right), dot(p, self.up), dot(p, self.forward)]
    }
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The thumbnail of `mesh` labelled with `bbox` (x, y, z extents in mm), as PNG bytes.
pub fn thumbnail_png(mesh: &Mesh<'_>, bbox: [f64; 3]) -> Result<Vec<u8>, png::EncodingError> {
    let pixels = render(mesh, &dimension_label(bbox));
    encode_png(&pixels, SIZE, SIZE)
}

/// `100 x 50 x 30 mm`, with at most two decimals and no trailing zeros.
pub fn dimension_label(bbox: [f64; 3]) -> String {
    let number = |v: f64| {
        let text = format!("{v:.2}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_owned()
    };
    format!(
        "{} x {} x {} mm",
        number(bbox[0]),
        number(bbox[1]),
        number(bbox[2])
    )
}

/// RGB pixels, row by row, `SIZE` x `SIZE`.
pub fn render(mesh: &Mesh<'_>, label: &str) -> Vec<u8> {
    let side = SIZE * SUPERSAMPLE;
    let view = View::isometric();
    let projected: Vec<[f32; 3]> = mesh.vertices.iter().map(|&v| view.project(v)).collect();
    let mut color = vec![
        [
            BACKGROUND[0] as f32,
            BACKGROUND[1] as f32,
            BACKGROUND[2] as f32
        ];
        side * side
    ];
    let mut depth = vec![f32::INFINITY; side * side];
    if let Some(fit) = Fit::new(&projected, side) {
        let normals = mesh.face_normals();
        for (triangle, normal) in mesh.triangles.iter().zip(normals) {
            let corners = triangle.map(|i| fit.to_screen(projected[i as usize]));
            let shade = shade(normal, &view);
            fill_triangle(corners, side, &mut depth, &mut color, shade);
        }
        outline(&depth, &mut color, side);
    }
    let mut pixels = downsample(&color, side);
    draw_label(&mut pixels, label);
    pixels
}

/// Maps the projected part into the picture, centred, below the label's band.
struct Fit {
    scale: f32,
    offset: [f32; 2],
}

impl Fit {
    fn new(points: &[[f32; 3]], side: usize) -> Option<Self> {
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for p in points {
            for axis in 0..2 {
                lo[axis] = lo[axis].min(p[axis]);
                hi[axis] = hi[axis].max(p[axis]);
            }
        }
        let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]);
        if !extent.is_finite() || extent <= 0.0 {
            return None;
        }
        let side = side as f32;
        // 10 % margin on each side, and the label's band at the top.
        let top_band = side * 0.08;
        let usable = side * 0.8 - top_band;
        let scale = usable / extent;
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        Some(Self {
            scale,
            offset: [
                side / 2.0 - centre[0] * scale,
                (side + top_band) / 2.0 + centre[1] * scale,
            ],
        })
    }

    /// Screen x to the right, y downwards, depth kept.
    fn to_screen(&self, p: [f32; 3]) -> [f32; 3] {
        [
            self.offset[0] + p[0] * self.scale,
            self.offset[1] - p[1] * self.scale,
            p[2],
        ]
    }
}

/// A face's colour: ambient plus two diffuse lights (a key light over the viewer's left
/// shoulder and a weaker fill), so the three visible sides of a box get three tones.
fn shade(normal: [f32; 3], view: &View) -> [f32; 3] {
    // Faces seen from behind (inner walls of holes) are lit as their visible side.
    let n = if dot(normal, view.forward) > 0.0 {
        normal.map(|c| -c)
    } else {
        normal
    };
    let key = normalize([0.3, -0.6, 0.9]);
    let fill = normalize([-0.8, -0.2, 0.3]);
    let light = 0.32 + 0.58 * dot(n, key).max(0.0) + 0.22 * dot(n, fill).max(0.0);
    PART.map(|c| (c * light).min(255.0))
}

fn normalize(v: [f32; 3]) -> [f32; 3] {
    let len = dot(v, v).sqrt();
    v.map(|c| c / len)
}

/// Fills one screen triangle into the buffers with a depth test.
fn fill_triangle(
    [a, b, c]: [[f32; 3]; 3],
    side: usize,
    depth: &mut [f32],
    color: &mut [[f32; 3]],
    shade: [f32; 3],
) {
    let area = edge(a, b, c);
    if area.abs() < 1e-12 {
        return;
    }
    let max = (side - 1) as f32;
    let x0 = a[0].min(b[0]).min(c[0]).floor().clamp(0.0, max) as usize;
    let x1 = a[0].max(b[0]).max(c[0]).ceil().clamp(0.0, max) as usize;
    let y0 = a[1].min(b[1]).min(c[1]).floor().clamp(0.0, max) as usize;
    let y1 = a[1].max(b[1]).max(c[1]).ceil().clamp(0.0, max) as usize;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let p = [x as f32 + 0.5, y as f32 + 0.5, 0.0];
            let w0 = edge(b, c, p) / area;
            let w1 = edge(c, a, p) / area;
            let w2 = edge(a, b, p) / area;
            if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                continue;
            }
            let z = w0 * a[2] + w1 * b[2] + w2 * c[2];
            let at = y * side + x;
            if z < depth[at] {
                depth[at] = z;
                color[at] = shade;
            }
        }
    }
}

fn edge(a: [f32; 3], b: [f32; 3], p: [f32; 3]) -> f32 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

/// Darkens the part's pixels next to the background, so the silhouette reads clearly.
fn outline(depth: &[f32], color: &mut [[f32; 3]], side: usize) {
    let background = |x: usize, y: usize| depth[y * side + x].is_infinite();
    for y in 1..side - 1 {
        for x in 1..side - 1 {
            if background(x, y) {
                continue;
            }
            if background(x - 1, y)
                || background(x + 1, y)
                || background(x, y - 1)
                || background(x, y + 1)
            {
                color[y * side + x] = INK.map(f32::from);
            }
        }
    }
}

/// Averages each `SUPERSAMPLE` x `SUPERSAMPLE` block into one RGB pixel.
fn downsample(color: &[[f32; 3]], side: usize) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(SIZE * SIZE * 3);
    let samples = (SUPERSAMPLE * SUPERSAMPLE) as f32;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let mut sum = [0.0f32; 3];
            for dy in 0..SUPERSAMPLE {
                for dx in 0..SUPERSAMPLE {
                    let c = color[(y * SUPERSAMPLE + dy) * side + x * SUPERSAMPLE + dx];
                    for k in 0..3 {
                        sum[k] += c[k];
                    }
                }
            }
            pixels.extend(sum.map(|s| (s / samples).round().clamp(0.0, 255.0) as u8));
        }
    }
    pixels
}

fn draw_label(pixels: &mut [u8], label: &str) {
    let (scale, margin) = (3, 16);
    font::draw_text(label, scale, |x, y| {
        let (x, y) = (x + margin, y + margin);
        if x < SIZE && y < SIZE {
            let at = (y * SIZE + x) * 3;
            pixels[at..at + 3].copy_from_slice(&INK);
        }
    });
}

fn encode_png(pixels: &[u8], width: usize, height: usize) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(pixels)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_drop_trailing_zeros() {
        assert_eq!(
            dimension_label([100.0, 50.5, 30.126]),
            "100 x 50.5 x 30.13 mm"
        );
    }

    #[test]
    fn an_empty_mesh_gives_a_plain_picture_with_its_label() {
        let pixels = render(
            &Mesh {
                vertices: &[],
                triangles: &[],
            },
            "1 x 2 x 3 mm",
        );
        let inked = pixels.chunks(3).filter(|p| *p == INK).count();
        assert!(inked > 0, "the label is drawn");
        assert!(pixels.chunks(3).all(|p| p == BACKGROUND || p == INK));
    }
}
