// The API docs page (/docs) renders the design endpoints from the gateway alone.
import { withPage } from './launch.mjs';

await withPage(async (page, url) => {
  await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  // Swagger UI writes one block per operation; a blank page never gets one.
  await page.waitForSelector('.opblock', { timeout: 20000 });
  const paths = await page.$$eval('.opblock-summary-path', (nodes) => nodes.map((n) => n.textContent.trim()));
  for (const expected of ['/api/v1/design', '/api/v1/designs', '/api/v1/design/{request_id}']) {
    if (!paths.some((p) => p.replace(/\u200b/g, '') === expected)) {
      throw new Error(`${expected} is not listed; the page shows: ${paths.join(', ') || 'nothing'}`);
    }
  }
});
