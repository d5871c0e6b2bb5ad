// Drives the internal board in headless Chromium (Debian's `chromium`) as responders use
// it: sign in with a token, read a pending draft and its alerts, edit it, meet a stale
// revision, approve it and find it on the public page; a reader sees no buttons; a form
// without its CSRF token is refused; sign out. Saves screenshots at a desktop and a phone
// width.
//
//   node tests/browser/board.mjs <base url> <approver token> <reader token> <draft id> <alert label text>
//
// Exits non-zero with the reasons when a check fails.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [base, approverToken, readerToken, draftId, alertText] = process.argv.slice(2);
if (!alertText) {
  console.error('usage: node board.mjs <base url> <approver token> <reader token> <draft id> <alert label text>');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.STATUSGATE_SCREENSHOTS || join(here, '..', '..', 'target', 'browser-screenshots');
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };
const visible = async (page, text) =>
  page.getByText(text, { exact: false }).first().isVisible().catch(() => false);

async function signIn(context, token) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  // The refusals this script provokes (403, 409) are logged by Chromium; anything else is not expected.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (403|409)/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.errors = errors;
  await page.goto(`${base}/internal`);
  check(page.url().endsWith('/internal/login'), `an anonymous visit should lead to the sign-in form, got ${page.url()}`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/internal`);
  return page;
}

try {
  // An approver on a laptop.
  const approver = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(approver, approverToken);
  const card = page.locator(`#draft-${draftId}`);
  check(await card.isVisible(), `draft ${draftId} is not on the board`);
  check(await card.getByText(alertText).first().isVisible(), `the alert's "${alertText}" is not shown with the draft`);
  check(await card.getByRole('button', { name: /Approve revision 1/ }).isVisible(), 'no approve button for the approver');
  check(await visible(page, 'Declare incident'), 'no "Declare incident" form');
  check(await page.locator('meta[http-equiv="refresh"]').count() === 1, 'the board does not refresh itself while a draft waits');
  const cookies = await approver.cookies();
  const session = cookies.find((c) => c.name === 'statusgate_board');
  check(session && session.httpOnly && session.sameSite === 'Strict' && session.expires > Date.now() / 1000,
    `the session cookie is not HttpOnly, SameSite=Strict and expiring: ${JSON.stringify(session)}`);
  await page.screenshot({ path: join(shots, 'board-desktop.png'), fullPage: true });

  // The same board on a phone: nothing scrolls sideways, the buttons are there.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `the board scrolls sideways on a phone (${width}px > 390px)`);
  const approveBox = await card.getByRole('button', { name: /Approve revision/ }).boundingBox();
  check(approveBox && approveBox.x >= 0 && approveBox.x + approveBox.width <= 391 && approveBox.height >= 36,
    `the approve button does not fit a phone: ${JSON.stringify(approveBox)}`);
  await page.screenshot({ path: join(shots, 'board-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // A reader sees the board, not the buttons; then signs out.
  const readerContext = await browser.newContext();
  const reader = await signIn(readerContext, readerToken);
  check(await reader.locator(`#draft-${draftId}`).isVisible(), 'the reader does not see the draft');
  check(await reader.getByRole('button', { name: /Approve/ }).count() === 0, 'the reader is offered an approve button');
  check(await reader.getByRole('button', { name: /Reject/ }).count() === 0, 'the reader is offered a reject button');
  check(!(await visible(reader, 'Declare incident')), 'the reader is offered the declare form');
  await reader.getByRole('button', { name: 'Sign out' }).click();
  await reader.waitForURL(/\/internal\/login/);
  check(await visible(reader, 'Signed out.'), 'no "Signed out." after signing out');
  await reader.goto(`${base}/internal`);
  check(reader.url().endsWith('/internal/login'), `after signing out the board still opens: ${reader.url()}`);
  await readerContext.close();

  // A form whose CSRF token was taken out is refused.
  const rejectForm = card.locator('form.reject');
  await Promise.all([
    page.waitForURL(/\/reject$/),
    rejectForm.evaluate((form) => { form.querySelector('input[name=csrf]').remove(); form.submit(); }),
  ]);
  check(await visible(page, 'CSRF token is missing'), 'a form without its CSRF token was not refused');
  await page.goto(`${base}/internal`);
  check(await page.locator(`#draft-${draftId}`).isVisible(), 'the draft is gone after a refused reject');

  // Edit: a new revision.
  await page.locator(`#draft-${draftId}`).getByRole('link', { name: 'Edit' }).click();
  await page.getByLabel('Title').fill('Payment API errors');
  await page.getByLabel('Body').fill('Some payment requests fail. We are on it.');
  await page.getByLabel('Incident status').selectOption('identified');
  await page.getByRole('button', { name: /Save as a new revision/ }).click();
  await page.waitForURL(/done=edited/);
  check(await visible(page, 'revision 2'), 'the edit did not make revision 2');

  // Someone else saves revision 3 while this page shows revision 2.
  const other = await approver.newPage();
  await other.goto(`${base}/internal/drafts/${draftId}`);
  await other.getByLabel('Body').fill('Some payment requests fail. The fix is rolling out.');
  await other.getByRole('button', { name: /Save as a new revision/ }).click();
  await other.waitForURL(/done=edited/);
  await page.getByRole('button', { name: /Approve revision 2/ }).click();
  await page.waitForLoadState('load');
  check(await visible(page, 'now at revision 3, you saw revision 2'), 'a stale approval was not refused');
  check(await visible(page, 'The fix is rolling out.'), 'the refusal does not show the current text');

  // Approve what is on the screen now, and find it on the public page.
  await page.getByRole('button', { name: /Approve revision 3/ }).click();
  await page.waitForURL(/done=approved/);
  check(await visible(page, `Approved ${draftId}`), 'no confirmation of the approval');
  const status = await approver.newPage();
  await status.goto(`${base}/`);
  check(await visible(status, 'Payment API errors'), 'the approved incident is not on the status page');
  check(await visible(status, 'The fix is rolling out.'), 'the approved text is not on the status page');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/internal\/login/);
  check((await approver.cookies()).every((c) => c.name !== 'statusgate_board'), 'the cookie outlived signing out');
  check(page.errors.length === 0, `errors in the browser:\n  ${page.errors.join('\n  ')}`);
} finally {
  await browser.close();
}

if (problems.length > 0) {
  console.error(`board checks failed:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`the board works in a browser; screenshots in ${shots}`);
