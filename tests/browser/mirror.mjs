// Loads a mirrored status page (static files) in headless Chromium and checks what a
// person sees: the expected texts, and the "out of date" banner only when asked for.
//
//   node tests/browser/mirror.mjs <url> fresh|stale [text that must be visible ...]
//
// Exits non-zero with the reason when a check fails.
import { launch } from './launch.mjs';
import { join } from 'node:path';

const [url, mode, ...expected] = process.argv.slice(2);
if (!url || !['fresh', 'stale'].includes(mode)) {
  console.error('usage: node mirror.mjs <url> fresh|stale [expected text ...]');
  process.exit(2);
}
const { context, close } = await launch();
const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };
try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  // A script the page's policy blocked shows here as a console error.
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  const response = await page.goto(url, { waitUntil: 'load' });
  check(response && response.status() === 200, `GET ${url} answered ${response?.status()}`);
  for (const text of expected) {
    const visible = await page.getByText(text, { exact: false }).first().isVisible().catch(() => false);
    check(visible, `"${text}" is not visible`);
  }
  const banner = page.locator('#statusgate-stale');
  if (mode === 'stale') {
    const shown = await banner.waitFor({ state: 'visible', timeout: 5000 }).then(() => true, () => false);
    check(shown, 'the out-of-date banner is not shown');
    if (shown) {
      check(/out of date/.test(await banner.innerText()), 'the banner does not say the page is out of date');
    }
  } else {
    check(await page.evaluate(() => typeof document.querySelector('meta[name="statusgate-as-of"]')?.content === 'string'),
      'the page carries no "as of" time');
    check(await banner.count() === 0, 'a fresh mirror shows the out-of-date banner');
  }
  // The incident's own page, as a static server serves it.
  const link = page.locator('.event h3 a').first();
  if (await link.count() > 0) {
    await link.click();
    await page.waitForLoadState('load');
    check(/\/incidents\//.test(page.url()), `the incident link led to ${page.url()}`);
    check(await page.locator('h1').isVisible(), 'the incident page has no heading');
  }
  check(errors.length === 0, `errors in the browser:\n  ${errors.join('\n  ')}`);
} finally {
  await close();
}
if (problems.length > 0) {
  console.error(`mirror checks failed:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`mirrored page looks right (${mode})`);
