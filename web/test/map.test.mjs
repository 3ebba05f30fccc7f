// The map page in headless Chromium (Debian's, driven by playwright-core):
// it loads, requests tiles, renders features of every kind, a click on a
// cluster zooms to its expansion zoom, a click on a point shows its
// attributes from the JSON API, the ISO selector filters the tiles; a
// screenshot is saved. Run: SERVER_URL=http://127.0.0.1:8080 node test/map.test.mjs
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const url = process.env.SERVER_URL ?? 'http://127.0.0.1:8080';
const shot = process.env.SCREENSHOT ?? 'target/web-test/map.png';
const chrome = process.env.CHROMIUM ?? '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath: chrome,
  args: ['--headless=new', '--no-sandbox', '--no-first-run', '--disable-quic', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
         '--ignore-gpu-blocklist'],
});
let failed = false;
const step = async (name, fn) => {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}\n     ${e.stack ?? e}`);
  }
};

try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const tileRequests = [];
  page.on('request', (r) => { if (r.url().includes('/tiles/') && r.url().includes('.mvt')) tileRequests.push(r.url()); });
  const badResponses = [];
  page.on('response', (r) => { if (r.status() >= 400) badResponses.push(`${r.status()} ${r.url()}`); });

  const idle = () => page.evaluate(() => new Promise((resolve) => {
    const m = window.gridkit.map;
    if (m.loaded() && m.areTilesLoaded() && !m.isMoving()) setTimeout(resolve, 200);
    else m.once('idle', () => resolve());
  }));
  const rendered = (layers) => page.evaluate((ids) => {
    const m = window.gridkit.map;
    return Object.fromEntries(ids.map((id) => [id, m.queryRenderedFeatures(undefined, { layers: [id] }).length]));
  }, layers);

  await step('the page loads and its layers are added', async () => {
    await page.goto(`${url}/#3.6/38.5/-95`);
    await page.waitForFunction(() => window.gridkit !== undefined);
    await page.evaluate(() => window.gridkit.ready);
    await idle();
    assert.ok(await page.evaluate(() => !!window.gridkit.map.getLayer('pnode-clusters')));
  });

  await step('tiles are requested and rendered', async () => {
    assert.ok(tileRequests.length >= 8, `only ${tileRequests.length} tile requests`);
    const counts = await rendered(['pnode-clusters', 'dc-clusters', 'lines', 'zones-fill', 'isos-line']);
    for (const [id, n] of Object.entries(counts)) assert.ok(n > 0, `no ${id} rendered: ${JSON.stringify(counts)}`);
  });

  await step('clicking a cluster zooms to its expansion zoom', async () => {
    const target = await page.evaluate(() => {
      const m = window.gridkit.map;
      const f = m.queryRenderedFeatures(undefined, { layers: ['pnode-clusters'] })
        .sort((a, b) => b.properties.point_count - a.properties.point_count)[0];
      const p = m.project(f.geometry.coordinates);
      return { x: p.x, y: p.y, zoom: m.getZoom(), expansion: f.properties.expansion_zoom };
    });
    await page.mouse.click(target.x, target.y);
    await page.waitForFunction((z) => Math.abs(window.gridkit.map.getZoom() - z) < 0.01 && !window.gridkit.map.isMoving(),
      target.expansion, { timeout: 10000 });
    assert.ok(target.expansion > target.zoom, `expansion zoom ${target.expansion} not above ${target.zoom}`);
    await idle();
  });

  await step('clicking a point shows its attributes from the JSON API', async () => {
    await page.evaluate(() => window.gridkit.map.jumpTo({ center: [-77.2, 40.4], zoom: 11 }));
    await idle();
    const target = await page.evaluate(() => {
      const m = window.gridkit.map;
      const f = m.queryRenderedFeatures(undefined, { layers: ['pnode-points'] })[0];
      if (!f) return null;
      const p = m.project(f.geometry.coordinates);
      return { x: p.x, y: p.y, id: f.id };
    });
    assert.ok(target, 'no pnode rendered at zoom 11');
    await page.mouse.click(target.x, target.y);
    await page.waitForFunction(() => window.gridkit.lastFeature !== null, undefined, { timeout: 5000 });
    const shown = await page.evaluate(() => window.gridkit.lastFeature);
    assert.equal(shown.id, target.id);
    assert.ok(shown.attributes.tier, 'no tier in the attributes');
    assert.ok(await page.isVisible('#feature'));
  });

  await step('the ISO selector filters the tiles', async () => {
    await page.evaluate(() => window.gridkit.map.jumpTo({ center: [-95, 38.5], zoom: 3.6 }));
    await idle();
    const before = tileRequests.length;
    await page.selectOption('#iso', 'PJM');
    await idle();
    const filtered = tileRequests.slice(before).filter((u) => u.includes('iso_id=PJM'));
    assert.ok(filtered.length > 0, 'no tile requested with iso_id=PJM');
    const isos = await page.evaluate(() => [...new Set(window.gridkit.map
      .queryRenderedFeatures(undefined, { layers: ['pnode-clusters', 'pnode-points'] })
      .map((f) => f.properties.iso_id))]);
    assert.deepEqual(isos, ['PJM']);
  });

  await step('no page errors and no failed requests', async () => {
    assert.deepEqual(errors, []);
    assert.deepEqual(badResponses, []);
  });

  await page.selectOption('#iso', '');
  await idle();
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
