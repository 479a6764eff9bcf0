// A small WebGL viewer of our own for the part's mesh (binary STL): flat-shaded triangles,
// drag to turn, wheel to zoom. No library, no download.
"use strict";

const Viewer = (() => {
  const VERTEX = `
    attribute vec3 position;
    attribute vec3 normal;
    uniform mat4 view;
    uniform mat4 projection;
    varying vec3 vNormal;
    void main() {
      vNormal = mat3(view) * normal;
      gl_Position = projection * view * vec4(position, 1.0);
    }`;
  const FRAGMENT = `
    precision mediump float;
    varying vec3 vNormal;
    void main() {
      vec3 n = normalize(vNormal);
      if (!gl_FrontFacing) n = -n;
      float key = max(dot(n, normalize(vec3(-0.4, 0.6, 0.7))), 0.0);
      float fill = max(dot(n, normalize(vec3(0.7, -0.2, 0.4))), 0.0);
      vec3 base = vec3(0.345, 0.525, 0.769);
      gl_FragColor = vec4(base * (0.32 + 0.58 * key + 0.22 * fill), 1.0);
    }`;

  // Binary STL to interleaved positions and per-face normals, centred on the origin.
  function parseStl(buffer) {
    const data = new DataView(buffer);
    const count = data.getUint32(80, true);
    if (84 + count * 50 !== buffer.byteLength) throw new Error("not a binary STL");
    const positions = new Float32Array(count * 9);
    const normals = new Float32Array(count * 9);
    const min = [Infinity, Infinity, Infinity], max = [-Infinity, -Infinity, -Infinity];
    for (let t = 0; t < count; t++) {
      const at = 84 + t * 50;
      const p = [];
      for (let k = 0; k < 9; k++) p.push(data.getFloat32(at + 12 + k * 4, true));
      const u = [p[3] - p[0], p[4] - p[1], p[5] - p[2]];
      const v = [p[6] - p[0], p[7] - p[1], p[8] - p[2]];
      let n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
      const len = Math.hypot(n[0], n[1], n[2]) || 1;
      n = n.map((c) => c / len);
      for (let k = 0; k < 9; k++) {
        positions[t * 9 + k] = p[k];
        normals[t * 9 + k] = n[k % 3];
        min[k % 3] = Math.min(min[k % 3], p[k]);
        max[k % 3] = Math.max(max[k % 3], p[k]);
      }
    }
    const centre = [0, 1, 2].map((i) => (min[i] + max[i]) / 2);
    for (let i = 0; i < positions.length; i++) positions[i] -= centre[i % 3];
    const radius = Math.hypot(max[0] - min[0], max[1] - min[1], max[2] - min[2]) / 2 || 1;
    return { positions, normals, count: count * 3, radius };
  }

  function compile(gl, type, source) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
    return shader;
  }

  function perspective(fovy, aspect, near, far) {
    const f = 1 / Math.tan(fovy / 2), nf = 1 / (near - far);
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
  }

  // Camera orbiting the origin, Z up (CAD's convention), column-major.
  function orbit(yaw, pitch, distance) {
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    const eye = [distance * cp * cy, distance * cp * sy, distance * sp];
    const f = eye.map((c) => -c / distance);
    let r = [f[1], -f[0], 0];
    const rl = Math.hypot(r[0], r[1]) || 1;
    r = r.map((c) => c / rl);
    const u = [r[1] * f[2] - r[2] * f[1], r[2] * f[0] - r[0] * f[2], r[0] * f[1] - r[1] * f[0]];
    const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    return [r[0], u[0], -f[0], 0, r[1], u[1], -f[1], 0, r[2], u[2], -f[2], 0,
      -dot(r, eye), -dot(u, eye), dot(f, eye), 1];
  }

  function create(canvas) {
    const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true, antialias: true });
    if (!gl) throw new Error("WebGL is not available in this browser");
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
    const where = {
      position: gl.getAttribLocation(program, "position"),
      normal: gl.getAttribLocation(program, "normal"),
      view: gl.getUniformLocation(program, "view"),
      projection: gl.getUniformLocation(program, "projection"),
    };
    const state = { mesh: null, yaw: -Math.PI / 4, pitch: Math.atan(1 / Math.SQRT2), zoom: 1 };
    const buffers = { positions: gl.createBuffer(), normals: gl.createBuffer() };

    function draw() {
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.clearColor(0.933, 0.945, 0.961, 1);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      if (!state.mesh) return;
      gl.enable(gl.DEPTH_TEST);
      gl.useProgram(program);
      const distance = state.mesh.radius * 3.2 * state.zoom;
      gl.uniformMatrix4fv(where.view, false, orbit(state.yaw, state.pitch, distance));
      gl.uniformMatrix4fv(where.projection, false,
        perspective(Math.PI / 6, canvas.width / canvas.height, distance / 100, distance * 4));
      for (const [name, buffer] of [["position", buffers.positions], ["normal", buffers.normals]]) {
        gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
        gl.enableVertexAttribArray(where[name]);
        gl.vertexAttribPointer(where[name], 3, gl.FLOAT, false, 0, 0);
      }
      gl.drawArrays(gl.TRIANGLES, 0, state.mesh.count);
    }

    let dragging = null;
    canvas.addEventListener("pointerdown", (e) => { dragging = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointerup", () => { dragging = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (!dragging) return;
      state.yaw -= (e.clientX - dragging[0]) * 0.01;
      state.pitch = Math.max(-1.5, Math.min(1.5, state.pitch + (e.clientY - dragging[1]) * 0.01));
      dragging = [e.clientX, e.clientY];
      draw();
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      state.zoom = Math.max(0.3, Math.min(5, state.zoom * (e.deltaY > 0 ? 1.1 : 0.9)));
      draw();
    }, { passive: false });

    return {
      show(stlBuffer) {
        const mesh = parseStl(stlBuffer);
        gl.bindBuffer(gl.ARRAY_BUFFER, buffers.positions);
        gl.bufferData(gl.ARRAY_BUFFER, mesh.positions, gl.STATIC_DRAW);
        gl.bindBuffer(gl.ARRAY_BUFFER, buffers.normals);
        gl.bufferData(gl.ARRAY_BUFFER, mesh.normals, gl.STATIC_DRAW);
        state.mesh = mesh;
        draw();
        return mesh.count / 3;
      },
    };
  }

  return { create, parseStl };
})();
