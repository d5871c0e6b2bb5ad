// Loads the status page in headless Chromium (Debian's `chromium`) at a phone and a
// desktop width, checks what a person sees, and saves screenshots under target/.
//
//   node tests/browser/page.mjs <url> [text that must be visible ...]
//
// Exits non-zero with the reason when a check fails.
import { launch } from './launch.mjs';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [url, ...expected] = process.argv.slice(2);
if (!url) {
  console.error('usage: node page.mjs <url> [expected text ...]');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.STATUSGATE_SCREENSHOTS || join(here, '..', '..', 'target', 'browser-screenshots');
mkdirSync(shots, { recursive: true });

const { context, close } = await launch();

const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };

try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });

  for (const [name, width, height, cells] of [['phone', 390, 844, 30], ['desktop', 1280, 900, 90]]) {
    await page.setViewportSize({ width, height });
    const response = await page.goto(url, { waitUntil: 'load' });
    check(response && response.status() === 200, `${name}: GET ${url} answered ${response?.status()}`);

    const headline = page.locator('.banner .headline');
    check(await headline.isVisible(), `${name}: the status banner is not visible`);
    check((await headline.innerText()).trim().length > 5, `${name}: the banner has no words`);
    for (const text of expected) {
      const visible = await page.getByText(text, { exact: false }).first().isVisible().catch(() => false);
      check(visible, `${name}: "${text}" is not visible`);
    }
    // Colour comes from the stylesheet: a blocked stylesheet would leave the banner bare.
    const banner = await headline.evaluate((el) => getComputedStyle(el.closest('.banner')).backgroundColor);
    check(banner !== 'rgba(0, 0, 0, 0)', `${name}: the banner has no colour (stylesheet not applied?)`);

    const bars = page.locator('ol.bars');
    const count = await bars.count();
    check(count >= 1, `${name}: no uptime bars`);
    for (let i = 0; i < count; i++) {
      const bar = bars.nth(i);
      check(await bar.isVisible(), `${name}: uptime bar ${i} is hidden`);
      const visibleCells = await bar.locator('li.day').evaluateAll((els) =>
        els.filter((e) => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().height > 0).length);
      check(visibleCells === cells, `${name}: bar ${i} shows ${visibleCells} days, expected ${cells}`);
      const box = await bar.boundingBox();
      check(box && box.x >= 0 && box.x + box.width <= width + 1, `${name}: bar ${i} overflows the viewport`);
    }
    const titled = await page.locator('ol.bars li.day[title]').count();
    check(titled === count * 90, `${name}: ${titled} day cells have a title, expected ${count * 90}`);
    const outage = await page.locator('li.day.day-major_outage, li.day.day-partial_outage').count();
    check(outage >= 1, `${name}: no day shows the outage`);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    check(scrollWidth <= width, `${name}: the page scrolls sideways (${scrollWidth}px > ${width}px)`);
    const times = await page.locator('time[datetime]').evaluateAll((els) => els.map((e) => e.getAttribute('datetime')));
    check(times.length > 0 && times.every((t) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(t)),
      `${name}: <time datetime> values are not ISO-8601 UTC: ${times.join(', ')}`);

    await page.screenshot({ path: join(shots, `status-${name}.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(shots, `status-${name}-dark.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
  }

  // A permalink from the page opens its own page.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(url, { waitUntil: 'load' });
  const link = page.locator('.event h3 a').first();
  await link.click();
  await page.waitForLoadState('load');
  check(/\/incidents\//.test(page.url()), `the incident link led to ${page.url()}`);
  check(await page.locator('h1').isVisible(), 'the incident page has no heading');
  await page.screenshot({ path: join(shots, 'incident-desktop.png'), fullPage: true });

  check(errors.length === 0, `errors in the browser:\n  ${errors.join('\n  ')}`);
} finally {
  await close();
}

if (problems.length > 0) {
  console.error(`status page checks failed:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`status page looks right at phone and desktop widths; screenshots in ${shots}`);
