// End-to-end test of the page at / in Debian's headless Chromium (Playwright drives it; no
// browser download). Started by the whole-system Rust test (e2e/tests/it/browser.rs),
// which runs Redis, the gateway and a worker, and passes:
//   BASE_URL    the gateway, e.g. http://127.0.0.1:40123
//   API_KEY     a key the gateway accepts (auth is on)
//   SCREENSHOT  where to write the screenshot of the finished page
//   PROMPT      what to type
// Prints one JSON line of findings on success; exits non-zero with the reason otherwise.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const { BASE_URL, API_KEY, SCREENSHOT, PROMPT } = process.env;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "designer-chromium-"));

const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1100, height: 1000 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    // WebGL without a GPU: Chromium's software renderer must be allowed explicitly.
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
  ],
});

try {
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.goto(`${BASE_URL}/`);

  // Auth is on: the page asks for the key; the examples load once it is given.
  await page.fill("#api-key", API_KEY);
  await page.dispatchEvent("#api-key", "change");
  await page.waitForSelector("#examples button.example");
  const examples = await page.locator("#examples button.example").count();
  // One click on a suggestion fills the prompt box.
  await page.locator("#examples button.example").first().click();
  const suggested = await page.inputValue("#prompt");

  await page.fill("#prompt", PROMPT);
  await page.click("#submit");
  await page.waitForFunction(
    () => ["completed", "failed", "cancelled"].includes(document.getElementById("status").textContent),
    null, { timeout: 120000 });
  const status = await page.textContent("#status");
  if (status !== "completed") throw new Error(`the job ended ${status}: ${await page.textContent("#message")}`);
  const logLines = await page.locator("#log li").count();

  // The thumbnail has loaded and is a real picture.
  await page.waitForFunction(() => document.getElementById("thumbnail").naturalWidth > 0, null, { timeout: 30000 });
  const thumbnail = await page.evaluate(() => {
    const img = document.getElementById("thumbnail");
    return [img.naturalWidth, img.naturalHeight];
  });

  // The 3D view drew the part: read the WebGL canvas's pixels back.
  await page.waitForFunction(() => Number(document.getElementById("viewer").dataset.triangles) > 0, null, { timeout: 30000 });
  const canvas = await page.evaluate(() => {
    const el = document.getElementById("viewer");
    const gl = el.getContext("webgl", { preserveDrawingBuffer: true });
    const pixels = new Uint8Array(el.width * el.height * 4);
    gl.readPixels(0, 0, el.width, el.height, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    const background = [pixels[0], pixels[1], pixels[2]];
    let drawn = 0;
    const colours = new Set();
    for (let i = 0; i < pixels.length; i += 4) {
      if (Math.abs(pixels[i] - background[0]) + Math.abs(pixels[i + 1] - background[1]) + Math.abs(pixels[i + 2] - background[2]) > 12) {
        drawn++;
        colours.add(`${pixels[i] >> 3},${pixels[i + 1] >> 3},${pixels[i + 2] >> 3}`);
      }
    }
    return { coverage: drawn / (el.width * el.height), shades: colours.size, triangles: Number(el.dataset.triangles) };
  });

  const geometry = await page.textContent("#geometry");

  // A download link gives the file.
  const link = page.locator('#downloads a.download[data-format="stl"]');
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  const saved = readFileSync(await download.path());
  const stlTriangles = saved.readUInt32LE(80);

  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({
    examples, suggested, status, logLines, thumbnail, canvas, geometry,
    download: { name: download.suggestedFilename(), bytes: saved.length, triangles: stlTriangles },
    problems,
  }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
