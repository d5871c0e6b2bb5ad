// Loads an audience page (`/a/{id}/?key=…`) in headless Chromium at a phone and a desktop
// width, checks what its reader sees, and saves screenshots.
//
//   node tests/browser/audience.mjs <link> <out dir> [text that must be visible ...]
//
// Exits non-zero with the reason when a check fails.
import { launch } from './launch.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url, shots, ...expected] = process.argv.slice(2);
if (!url || !shots) {
  console.error('usage: node audience.mjs <link> <out dir> [expected text ...]');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const key = new URL(url).searchParams.get('key');

// Without scripts: the page must read right with none.
const { context, close } = await launch({ javaScriptEnabled: false });

const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };

try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });

  for (const [name, width, height] of [['phone', 390, 844], ['desktop', 1280, 900]]) {
    await page.setViewportSize({ width, height });
    const response = await page.goto(url, { waitUntil: 'load' });
    check(response && response.status() === 200, `${name}: GET ${url} answered ${response?.status()}`);
    check(await page.locator('.brand .audience').isVisible(), `${name}: the audience's name is not shown`);
    for (const text of expected) {
      const visible = await page.getByText(text, { exact: false }).first().isVisible().catch(() => false);
      check(visible, `${name}: "${text}" is not visible`);
    }
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    check(scrollWidth <= width, `${name}: the page scrolls sideways (${scrollWidth}px > ${width}px)`);
    await page.screenshot({ path: join(shots, `audience-${name}.png`), fullPage: true });
  }

  // A folded group opens without JavaScript, and shows its members.
  const closed = page.locator('details.group:not([open])');
  check(await closed.count() >= 1, 'no folded (all operational) group on the page');
  if (await closed.count() >= 1) {
    // By id: once open, it no longer matches `:not([open])`.
    const folded = page.locator(`#${await closed.first().getAttribute('id')}`);
    await folded.locator('summary').click();
    check(await folded.evaluate((d) => d.open), 'clicking a group summary did not open it');
    check(await folded.locator('li.component').first().isVisible(), 'an opened group shows no component');
  }
  // Links keep the key, so following one stays on the audience's page.
  const link = page.locator('.event h3 a').first();
  check((await link.getAttribute('href') || '').includes(`key=${key}`), 'incident links lose the key');
  await link.click();
  await page.waitForLoadState('load');
  check(/\/a\/[^/]+\/incidents\//.test(page.url()), `the incident link led to ${page.url()}`);
  check(await page.locator('h1').isVisible(), 'the incident page has no heading');

  check(errors.length === 0, `errors in the browser:\n  ${errors.join('\n  ')}`);
} finally {
  await close();
}

if (problems.length > 0) {
  console.error(`audience page checks failed:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`audience page looks right at phone and desktop widths; screenshots in ${shots}`);
