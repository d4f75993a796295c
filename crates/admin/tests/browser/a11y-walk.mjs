// Every page of the admin center through axe-core, at desktop width and on a 390 px phone
// (issue 20): the sign-in and TOTP pages (with and without their errors), every signed-in page
// (a fixed list of the pages with their usual states, then every further link they lead to),
// forms shown again with their errors, and the confirmation pages. Fails on any serious or
// critical axe violation (printed with the elements it found), on a signed-in page wider than
// the window (document.documentElement.scrollWidth > 390 or 1360) or a top bar whose text runs off, on
// a missing skip link (the first tab stop), aria-current or lang attribute.
//
// With SCREENSHOTS=<dir> it also writes <dir>/<lang>/home.png, queue.png and phone-home.png
// (the docs' pictures, docs/admin-center.md). With A11Y_REPORT_ONLY=1 it only counts (to
// measure a build before its fixes).
//
// Run by crates/authrelay/tests/admin_safety.rs: ADMIN_URL, ADMIN_ADDRESS, ADMIN_PASSWORD,
// USER_ADDRESS, ORG_NAME, WALK_LANG, CHROMIUM.

import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { env, launch, totp } from "./common.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const ADMIN_URL = env("ADMIN_URL");
const USER_ADDRESS = env("USER_ADDRESS");
const ORG_NAME = env("ORG_NAME");
const LANG = env("WALK_LANG", "en");
const SHOTS = process.env.SCREENSHOTS ? path.join(process.env.SCREENSHOTS, LANG) : null;
const REPORT_ONLY = process.env.A11Y_REPORT_ONLY === "1";
const DESKTOP = { name: "desktop", width: 1360, height: 900 };
const PHONE = { name: "390px", width: 390, height: 844 };
// Bounds: the walk ends whatever the pages link to.
const MAX_PAGES = 70;

const { page, problems, close } = await launch(env("CHROMIUM", "/usr/bin/chromium"), LANG);
const findings = []; // { where, id, impact, help, nodes }
const layout = []; // phone layout and landmark problems
let checks = 0;
let axeVersion = "?";

async function submit(selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function settle(size) {
  await page.setViewportSize({ width: size.width, height: size.height });
  // admin.js marks sideways-scrolling tables focusable on resize.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

async function runAxe(where) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.evaluate(AXE_SOURCE);
    axeVersion = await page.evaluate(() => window.axe.version);
  }
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(" ")}  ${n.html.slice(0, 160)}`),
      }));
  });
  checks += 1;
  for (const v of violations) findings.push({ where, ...v });
}

// The checks of one page state at one width (the page is already shown).
async function checkHere(label, size, signedIn) {
  const where = `${label} @${size.name}`;
  await runAxe(where);
  const lang = await page.locator("html").getAttribute("lang");
  if (lang !== LANG) layout.push(`${where}: <html lang="${lang}">, expected ${LANG}`);
  if (!signedIn) return;
  // No page is wider than the window, on the phone or the desktop (a long value in a table
  // once pushed the queue page to 1660 px at desktop width).
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > size.width) {
    // Name the outermost elements that stick out, so the message says what to fix.
    const culprits = await page.evaluate((limit) => {
      const clipped = (el) => {
        for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
          if (getComputedStyle(a).overflowX !== "visible") return true;
        }
        return false;
      };
      const out = Array.from(document.querySelectorAll("body *"))
        .filter((el) => el.getBoundingClientRect().right > limit + 0.5 && !clipped(el));
      const all = Array.from(document.querySelectorAll("body *")).filter((el) => el.getBoundingClientRect().right > limit + 0.5);
      // Text that does not wrap sticks out of its box without making the box wider.
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const range = document.createRange();
        range.selectNodeContents(n);
        if (range.getBoundingClientRect().right > limit + 0.5 && !clipped(n)) out.push(n.parentElement);
      }
      const shown = out.length ? out : all;
      return shown.filter((el) => !shown.includes(el.parentElement)).slice(0, 5)
        .map((el) => `<${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className ? "." + String(el.className).replace(/ /g, ".") : ""}> ${Math.round(el.getBoundingClientRect().right)} px`);
    }, size.width);
    layout.push(`${where}: the page is ${wide} px wide: ${culprits.join(", ")}`);
  }
  if (size === PHONE) {
    const offBar = await page.evaluate((limit) => {
      const bar = document.querySelector("header.top").getBoundingClientRect();
      return Array.from(document.querySelectorAll("header.top *"))
        .filter((el) => el.getClientRects().length)
        .map((el) => [el, el.getBoundingClientRect()])
        .filter(([, r]) => r.right > limit + 0.5 || r.bottom > bar.bottom + 0.5)
        .map(([el]) => el.id || el.className || el.tagName);
    }, PHONE.width);
    if (offBar.length) layout.push(`${where}: top bar text runs off: ${offBar.join(", ")}`);
  }
}

async function visit(url, label, signedIn = true) {
  for (const size of [DESKTOP, PHONE]) {
    await settle(size);
    await page.goto(`${ADMIN_URL}${url}`);
    await checkHere(label ?? url, size, signedIn);
  }
}

// A state reached by a form (an error shown in place, a confirmation): checked at both widths
// without posting again.
async function afterForm(label, signedIn = true) {
  for (const size of [DESKTOP, PHONE]) {
    await settle(size);
    await checkHere(label, size, signedIn);
  }
  await settle(DESKTOP);
}

try {
  const enc = encodeURIComponent;
  const user = `/users/${enc(USER_ADDRESS)}`;
  const org = `/org/${enc(ORG_NAME)}`;

  // --- Signed out: sign-in, its error, the TOTP enrolment and its error. -----------------------
  await settle(DESKTOP);
  await page.goto(`${ADMIN_URL}/signin`);
  if (LANG === "id") await Promise.all([page.waitForNavigation(), page.selectOption("#lang-switch", "id")]);
  const autofocus = () =>
    page.waitForFunction(() => document.activeElement?.hasAttribute("autofocus"), null, { timeout: 5000 }).then(() => true, () => false);
  if (!(await autofocus())) layout.push("sign-in: the address field has no focus");
  await afterForm("sign-in", false);
  await page.fill("#address", env("ADMIN_ADDRESS"));
  await page.fill("#password", "not-the-password");
  await submit("#signin-submit");
  assert.ok(await page.locator("#signin-error").isVisible(), "a wrong password shows the sign-in error");
  if ((await page.locator("#password").getAttribute("aria-describedby")) !== "signin-error") layout.push("sign-in: the error is not tied to the fields");
  await afterForm("sign-in with its error", false);
  await page.fill("#address", env("ADMIN_ADDRESS"));
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await submit("#signin-submit");
  const secret = (await page.locator("#totp-secret").innerText()).trim();
  if (!(await autofocus())) layout.push("TOTP: the code field has no focus");
  await afterForm("TOTP enrolment", false);
  await page.fill("#code", "000000");
  await submit("#totp-submit");
  assert.ok(await page.locator("#totp-error").isVisible(), "a wrong code shows the TOTP error");
  await afterForm("TOTP with its error", false);
  await page.fill("#code", totp(secret));
  await submit("#totp-submit");
  assert.equal(new URL(page.url()).pathname, "/", "signed in");

  // --- Keyboard and landmarks: the skip link is the first tab stop; the active place is marked.
  await page.goto(`${ADMIN_URL}/users`);
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => document.activeElement?.id);
  if (first !== "skip-link") layout.push(`the first tab stop is #${first}, not the skip link`);
  await page.keyboard.press("Enter");
  if (!(await page.evaluate(() => document.activeElement?.id === "main"))) layout.push("the skip link does not lead to the content");
  if ((await page.locator("nav.side a[aria-current=page]").getAttribute("href")) !== "/users") layout.push("aria-current is not on Active users");

  // --- Phone: the menu button folds the sidebar and opens it again. ---------------------------
  await settle(PHONE);
  await page.goto(`${ADMIN_URL}/`);
  const toggle = page.locator("#nav-toggle");
  assert.ok(await toggle.isVisible(), "the menu button shows on a phone");
  assert.equal(await toggle.getAttribute("aria-expanded"), "false");
  assert.ok(!(await page.locator("#side-nav").isVisible()), "the sidebar is folded on a phone");
  if (SHOTS) {
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, "phone-home.png") });
  }
  await toggle.click();
  assert.equal(await toggle.getAttribute("aria-expanded"), "true");
  assert.ok(await page.locator("#side-nav").isVisible(), "the menu button opens the sidebar");
  await checkHere("home with the menu open", PHONE, true);
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, "phone-menu.png") });
  await settle(DESKTOP);

  // --- Signed in: every page, then whatever they link to. -----------------------------------------
  await page.goto(`${ADMIN_URL}/queue`);
  const queued = await page.locator("tr[id^=msg-]").first().getAttribute("id").catch(() => null);
  if (SHOTS) {
    await page.goto(`${ADMIN_URL}/`);
    await page.screenshot({ path: path.join(SHOTS, "home.png"), fullPage: true });
    await page.goto(`${ADMIN_URL}/queue`);
    await page.screenshot({ path: path.join(SHOTS, "queue.png"), fullPage: true });
  }
  const start = [
    "/", "/users", "/users?search=scan", user, `${user}?tab=mail`, `${user}/email-apps`, "/mfa", `/mfa/${enc(USER_ADDRESS)}`,
    "/org", org, `${org}/security-defaults`, `${org}/mail`, "/signins", "/signins?result=failure&hours=24",
    "/reports/smtp-auth", "/reports/smtp-auth?days=7&legacy=1", "/queue", "/audit", "/admins", "/troubleshoot",
    `/troubleshoot?user=${enc(USER_ADDRESS)}`, "/import", "/import/status",
    "/connectors", "/connectors?client=192.0.2.1", "/connectors?client=127.0.0.1",
    // The error page: a mailbox that does not exist.
    "/users/nobody%40contoso.com",
  ];
  if (queued) start.push(`/queue/${queued.slice(4)}/delete`);
  const seen = new Set();
  const todo = [...start];
  const key = (u) => {
    const url = new URL(u, ADMIN_URL);
    url.searchParams.delete("done");
    return url.pathname + url.search;
  };
  while (todo.length && seen.size < MAX_PAGES) {
    const next = key(todo.shift());
    if (seen.has(next)) continue;
    seen.add(next);
    await visit(next);
    const links = await page.locator("a[href^='/']").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    for (const href of links) {
      if (/^\/(static|api)\/|\.csv(\?|$)|^\/signout/.test(href)) continue;
      if (!seen.has(key(href))) todo.push(href);
    }
  }

  // --- Forms shown again with their errors. -------------------------------------------------------
  async function refused(url, fill, button, label) {
    await page.goto(`${ADMIN_URL}${url}`);
    for (const [sel, value] of fill) await page.fill(sel, value);
    await submit(button);
    const errors = page.locator(".field-error, main .error");
    assert.ok((await errors.count()) > 0, `${label}: an error is shown`);
    // Each field error is tied to its field.
    const untied = await page.evaluate(() =>
      Array.from(document.querySelectorAll(".field-error[id]"))
        .filter((e) => !document.querySelector(`[aria-describedby~="${e.id}"][aria-invalid=true]`))
        .map((e) => e.id));
    if (untied.length) layout.push(`${label}: errors not tied to a field: ${untied}`);
    await afterForm(label);
  }
  await refused("/admins", [["#admin-address", "helpdesk@contoso.com"], ["#admin-password", "short"]], "#add-admin", "add admin: short password");
  await refused(user, [["#dc-name", "copier"], ["#dc-allow", "10.0.0.300/8"]], "#add-device-credential", "device credential: bad range");
  await refused(user, [["#ap-name", "printer"]], "#add-app-password", "app password: duplicate name");
  await refused(user, [["#new-password", "short"]], "#reset-password", "reset password: too short");
  await refused(org, [["#domain", "not_a domain"]], "#add-domain", "domain: not a domain");
  await refused("/org", [["#org-name", ORG_NAME], ["#org-domain", "new.example"]], "#add-org", "organisation: duplicate");
  await refused("/connectors", [["#check-client", "10.1.2"]], "#check-button", "connector check: not an address");

  // --- Confirmations (each cancelled). ----------------------------------------------------------------
  await page.goto(`${ADMIN_URL}${org}/security-defaults`);
  await page.selectOption("#security-defaults", "off");
  await submit("#save-security-defaults");
  assert.ok(await page.locator("#confirm-change").isVisible(), "security defaults off asks first");
  await afterForm("confirm: security defaults off");
  await submit("#confirm-cancel");
  await page.goto(`${ADMIN_URL}${user}`);
  await submit('form[action$="/app-passwords/revoke"] button');
  assert.ok(await page.locator("#confirm-change").isVisible(), "revoking asks first");
  await afterForm("confirm: revoke an app password");
  await submit("#confirm-cancel");
  await page.check("#blocked");
  await submit("#save-sign-in");
  assert.ok(await page.locator("#confirm-change").isVisible(), "blocking sign-in asks first");
  await afterForm("confirm: block sign-in");
  await submit("#confirm-cancel");

  // The refused forms answer with the API's status (409, 422), which Chromium logs as a failed
  // load; those lines are expected, any other is still a problem.
  const expected = /responded with a status of (401|403|404|409|422|429)/;
  const scriptProblems = problems.filter((p) => !expected.test(p));

  const byRule = {};
  for (const f of findings) byRule[f.id] = (byRule[f.id] ?? 0) + 1;
  console.log(`[${LANG}] axe-core ${axeVersion}: ${checks} page states checked (${seen.size} signed-in pages), ${findings.length} serious or critical violations ${JSON.stringify(byRule)}`);
  for (const f of findings) console.log(`  ${f.where}: ${f.impact} ${f.id} (${f.help})\n    ${f.nodes.slice(0, 5).join("\n    ")}`);
  for (const l of layout) console.log(`  layout: ${l}`);
  if (!REPORT_ONLY) {
    assert.deepEqual(findings.map((f) => `${f.where}: ${f.id}`), [], "serious or critical axe violations");
    assert.deepEqual(layout, [], "phone layout, keyboard and language problems");
    assert.deepEqual(scriptProblems, [], "no script errors in the pages");
  }
  console.log(`[${LANG}] a11y walk passed`);
} catch (e) {
  console.error(`[${LANG}] a11y walk failed at ${page.url()}:`, e);
  process.exitCode = 1;
} finally {
  await close();
}
